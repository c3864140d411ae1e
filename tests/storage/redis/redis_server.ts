/**
 * A real redis-server for a test: on a free loopback port, its files in a
 * temporary directory, append-only file on and synced before each reply
 * (the settings under which an acknowledged write is durable).
 *
 * @module
 */

/** A running redis-server the test started. */
export interface TestRedis {
  /** `redis://127.0.0.1:<port>/0`. */
  url: string;
  /** The port. */
  port: number;
  /** Its directory. */
  dir: string;
  /** Stops it (SIGTERM), waiting for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory (its AOF is replayed). */
  start(): Promise<void>;
  /** Runs a redis-cli command against it. */
  cli(...args: string[]): Promise<string>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

/** A port nobody listens on now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts redis-server in a new temporary directory. */
export async function startRedis(): Promise<TestRedis> {
  const dir = await Deno.makeTempDir({ prefix: "redis-test-" });
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  const cli = async (...args: string[]) => {
    const out = await new Deno.Command("redis-cli", {
      args: ["-p", String(port), ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  };
  const start = async () => {
    child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 200; i++) {
      if ((await cli("PING").catch(() => "")) === "PONG") return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const stop = async () => {
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
    child = undefined;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    dir,
    stop,
    start,
    cli,
    async dispose() {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
