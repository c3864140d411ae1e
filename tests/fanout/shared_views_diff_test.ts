/**
 * Differential check of shared views: stock clients over real sockets open,
 * read, subscribe to, expand and delete views of many configurations while
 * updates stream in, and every read and every notification is compared with
 * an in-process engine that gets the same updates in the same batches and
 * the same view requests at the same points, with sharing on and off.
 */

import assert from "node:assert/strict";
import perspective from "@finos/perspective";
import { make_client, PerspectiveServer } from "../../src/engine/perspective.ts";
import { websocketUrl, withService } from "../support/service.ts";
import { waitFor } from "../support/wait.ts";
import { mulberry32 } from "../../src/engine/demo.ts";

type Client = Awaited<ReturnType<typeof perspective.websocket>>;
type View = Awaited<ReturnType<Awaited<ReturnType<Client["open_table"]>>["view"]>>;

const STEPS = 90;
const SCHEMA = { id: "integer", cat: "string", v: "float", flag: "boolean" } as const;

/** A small seeded generator (the demo's mulberry32), so a failure replays. */
const rng = mulberry32;

/** Configurations, each with whether expand/collapse/set_depth apply. */
function configs(pick: <T>(xs: T[]) => T): { config: Record<string, unknown>; tree: boolean }[] {
  // Key order varies as a viewer's might; sharing must not care.
  const exprs = pick([true, false])
    ? { dbl: '"v" * 2', inc: '"v" + 1' }
    : { inc: '"v" + 1', dbl: '"v" * 2' };
  const aggs = pick([true, false]) ? { v: "sum", id: "count" } : { id: "count", v: "sum" };
  return [
    { config: {}, tree: false },
    { config: { columns: ["id", "v"] }, tree: false },
    { config: { filter: [["flag", "==", true]] }, tree: false },
    { config: { filter: [["flag", "==", false]], sort: [["v", "desc"]] }, tree: false },
    { config: { filter: [["v", ">", 50]] }, tree: false },
    { config: { sort: [["v", "desc"]] }, tree: false },
    { config: { sort: [["cat", "asc"], ["id", "desc"]] }, tree: false },
    { config: { expressions: exprs, columns: ["id", "dbl", "inc"] }, tree: false },
    { config: { group_by: ["cat"], columns: ["v", "id"], aggregates: aggs }, tree: true },
    { config: { group_by: ["cat", "flag"], columns: ["v"] }, tree: true },
    { config: { group_by: ["cat"], split_by: ["flag"], columns: ["v"] }, tree: true },
  ];
}

interface Pair {
  client: number;
  config: Record<string, unknown>;
  tree: boolean;
  ours: View;
  ref: View;
  subscribed: boolean;
  oursSeen: number;
  refSeen: number;
  /** Whether a request that changes the view has moved it off a shared view. */
  moved: boolean;
}

async function run(seed: number, shareViews: boolean): Promise<void> {
  const random = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
  // Polled only by `settle`, as the service's conflator is only by its flush here.
  const refServer = new PerspectiveServer({ on_poll_request: () => Promise.resolve() });
  const refSession = refServer.make_session(async (r: Uint8Array) => {
    await refClient.handle_response(r);
  });
  const refClient = make_client((req: Uint8Array) => refSession.handle_request(req));
  const refTable = await refClient.table(
    SCHEMA as unknown as Parameters<typeof refClient.table>[0],
    { index: "id" },
  );
  await withService({ demo: false, shareViews, maxUpdateRate: 50 }, async (service) => {
    const source = await service.host.createTable("t", SCHEMA, { index: "id" });
    // Few clients and configurations, so views often coincide on one connection.
    const shapes = configs(pick).sort(() => random() - 0.5).slice(0, 4);
    const clients = await Promise.all(
      Array.from({ length: 2 }, () => perspective.websocket(websocketUrl(service))),
    );
    const pairs: Pair[] = [];
    const row = () => ({
      id: Math.floor(random() * 20),
      cat: pick(["a", "b", "c", null]),
      v: Math.floor(random() * 100),
      flag: pick([true, false, null]),
    });
    const where = (p: Pair, what: string) =>
      `seed ${seed}, sharing ${shareViews}, client ${p.client}, ${
        JSON.stringify(p.config)
      }: ${what}`;
    try {
      // Every update must reach every subscribed view, as it does the reference's.
      const settle = async () => {
        await service.host.flush();
        await refServer.poll();
        for (const p of pairs.filter((p) => p.subscribed)) {
          if (p.refSeen > p.oursSeen) {
            await waitFor(where(p, "notification"), () => p.oursSeen >= p.refSeen, {
              timeout: 5000,
            });
          }
        }
      };
      const compare = async (p: Pair) => {
        const start = Math.floor(random() * 5);
        const window = pick([{}, {
          start_row: start,
          end_row: start + 1 + Math.floor(random() * 8),
        }]);
        assert.deepEqual(await p.ours.num_rows(), await p.ref.num_rows(), where(p, "num_rows"));
        assert.deepEqual(
          await p.ours.to_columns(window),
          await p.ref.to_columns(window),
          where(p, `to_columns ${JSON.stringify(window)}`),
        );
      };
      for (let step = 0; step < STEPS; step++) {
        const action = random();
        if (action < 0.3 && pairs.length > 0) {
          const rows = Array.from({ length: 1 + Math.floor(random() * 6) }, row);
          const removed = random() < 0.2 ? [Math.floor(random() * 20)] : [];
          await source.update(rows);
          await refTable.update(rows);
          await settle();
          if (removed.length) {
            await source.remove(removed);
            await refTable.remove(removed);
            await settle();
          }
        } else if ((action < 0.6 && pairs.length < 12) || pairs.length === 0) {
          const { config, tree } = pick(shapes);
          const client = Math.floor(random() * clients.length);
          const ours = await (await clients[client].open_table("t")).view(structuredClone(config));
          const ref = await refTable.view(structuredClone(config));
          const p: Pair = {
            client,
            config,
            tree,
            ours,
            ref,
            subscribed: false,
            oursSeen: 0,
            refSeen: 0,
            moved: false,
          };
          pairs.push(p);
          if (random() < 0.7) {
            p.subscribed = true;
            await ours.on_update(() => p.oursSeen++);
            await ref.on_update(() => p.refSeen++);
            await ours.num_rows();
          }
        } else if (action < 0.75) {
          const i = Math.floor(random() * pairs.length);
          const p = pairs.splice(i, 1)[0];
          await p.ours.delete();
          await p.ref.delete();
        } else if (action < 0.85) {
          const trees = pairs.filter((p) => p.tree);
          if (trees.length) {
            const p = pick(trees);
            const op = pick(["expand", "collapse", "set_depth"]);
            const arg = op === "set_depth"
              ? Math.floor(random() * 2)
              : 1 + Math.floor(random() * 3);
            if (shareViews && !p.moved) {
              // The service moves the viewer to a view of its own made now
              // (shared_views.ts); the reference's counterpart is a fresh view too.
              p.moved = true;
              const fresh = await refTable.view(structuredClone(p.config));
              if (p.subscribed) await fresh.on_update(() => p.refSeen++);
              await p.ref.delete();
              p.ref = fresh;
            }
            await (p.ours as unknown as Record<string, (n: number) => Promise<unknown>>)[op](arg);
            await (p.ref as unknown as Record<string, (n: number) => Promise<unknown>>)[op](arg);
          }
        }
        for (const p of pairs) if (random() < 0.5) await compare(p);
      }
      for (const p of pairs) await compare(p);
      for (const p of pairs) await p.ref.delete();
    } finally {
      await Promise.all(clients.map((c) => c.terminate()));
    }
  });
}

for (const shareViews of [true, false]) {
  Deno.test(`SharedViews: randomized reads and notifications match a private engine, sharing ${shareViews ? "on" : "off"}`, async () => {
    const seeds = (Deno.env.get("SHARED_VIEWS_DIFF_SEEDS") ?? "11,13").split(",").map(Number);
    for (const seed of seeds) await run(seed, shareViews);
  });
}
