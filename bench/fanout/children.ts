/**
 * Process plumbing for `bench:fanout`: JSON-line child processes, free ports,
 * the reference server's install, and an HTTP probe.
 *
 * @module
 */

import { readLines } from "./proc.ts";

/** The repository root. */
export const root = new URL("../../", import.meta.url).pathname;
/** Where the reference server lives. */
export const refDir = `${root}bench/reference`;

/** A child process speaking JSON lines. */
export class Child {
  readonly proc: Deno.ChildProcess;
  readonly #lines: AsyncGenerator<string>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(cmd: string, argv: string[]) {
    this.proc = new Deno.Command(cmd, {
      args: argv,
      cwd: root,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = readLines(this.proc.stdout);
    this.#writer = this.proc.stdin.getWriter();
  }

  async next<T = Record<string, unknown>>(): Promise<T> {
    for (;;) {
      const { value, done } = await this.#lines.next();
      if (done) throw new Error("child exited");
      if (value.startsWith("{")) return JSON.parse(value) as T;
    }
  }

  async ask<T = Record<string, unknown>>(cmd: Record<string, unknown>): Promise<T> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(cmd) + "\n"));
    return await this.next<T>();
  }

  async quit(): Promise<void> {
    try {
      await this.#writer.write(new TextEncoder().encode('{"cmd":"quit"}\n'));
      await this.#writer.close();
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    await this.proc.status;
    clearTimeout(timer);
  }
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export async function ensureReference(): Promise<void> {
  try {
    Deno.statSync(`${refDir}/node_modules/@finos/perspective/package.json`);
  } catch {
    console.error("installing the reference server (npm ci in bench/reference)…");
    const out = await new Deno.Command("npm", {
      args: ["ci", "--no-audit", "--no-fund"],
      cwd: refDir,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error("npm ci failed in bench/reference");
  }
}

/**
 * Times an HTTP GET every `intervalMs` until stopped; resolves with the
 * sorted times (ms). Every 20 ms gives about 250 probes in a 5 s run, so
 * that their p99 is not simply the one slowest probe.
 */
export function probeHttp(url: string, intervalMs = 20): { stop(): Promise<Float64Array> } {
  const times: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      try {
        const res = await fetch(url);
        await res.body?.cancel();
        times.push(performance.now() - t);
      } catch {
        times.push(Infinity);
      }
      await sleep(intervalMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Float64Array.from(times).sort();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
