/**
 * Liveness and readiness. Live means the process answers HTTP. Ready means
 * the tables the configuration names exist, the ingest sources have started,
 * and the service is not draining: an orchestrator sends traffic only then.
 *
 * @module
 */

/** One readiness check's outcome. */
export interface CheckResult {
  /** Whether this check passes. */
  ok: boolean;
  /** Why not, when it fails. */
  detail?: string;
}

/** The `/readyz` body. */
export interface ReadinessReport {
  /** `ready` or `not ready`. */
  status: "ready" | "not ready";
  /** Each check by name. */
  checks: Record<string, CheckResult>;
}

/** Lists table names, for the tables check. */
export interface TableLister {
  /** Names of all hosted tables. */
  tableNames(): Promise<string[]>;
}

/** Tracks what readiness depends on; the service flips its flags as it starts and stops. */
export class Readiness {
  readonly #host: TableLister;
  #tables: string[] = [];
  #sourcesStarted = false;
  #draining = false;
  readonly #extra = new Map<string, () => CheckResult>();

  /**
   * Creates the state: not ready until sources start.
   *
   * @param host Where the expected tables must exist.
   */
  constructor(host: TableLister) {
    this.#host = host;
  }

  /** Names tables that must exist before the service is ready, e.g. from the config file. */
  expectTables(names: Iterable<string>): void {
    this.#tables = [...new Set([...this.#tables, ...names])];
  }

  /**
   * Adds a check of its own, such as storage recovery; it runs with every
   * `/readyz` and must be cheap.
   */
  addCheck(name: string, check: () => CheckResult): void {
    this.#extra.set(name, check);
  }

  /** Marks the ingest sources as started. */
  markSourcesStarted(): void {
    this.#sourcesStarted = true;
  }

  /** Marks the service as draining; it never becomes ready again. */
  markDraining(): void {
    this.#draining = true;
  }

  /** Whether a drain has begun. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Runs every check. */
  async check(): Promise<ReadinessReport> {
    const checks: Record<string, CheckResult> = {
      tables: await this.#checkTables(),
      sources: this.#sourcesStarted ? { ok: true } : { ok: false, detail: "sources not started" },
      draining: this.#draining ? { ok: false, detail: "shutting down" } : { ok: true },
    };
    for (const [name, check] of this.#extra) checks[name] = check();
    const ok = Object.values(checks).every((c) => c.ok);
    return { status: ok ? "ready" : "not ready", checks };
  }

  async #checkTables(): Promise<CheckResult> {
    if (this.#tables.length === 0) return { ok: true };
    try {
      const have = new Set(await this.#host.tableNames());
      const missing = this.#tables.filter((t) => !have.has(t));
      if (missing.length === 0) return { ok: true };
      return { ok: false, detail: `missing tables: ${missing.join(", ")}` };
    } catch (err) {
      return { ok: false, detail: `engine did not answer: ${(err as Error).message}` };
    }
  }
}

const NO_STORE = { "cache-control": "no-store" };

/** The `/healthz` answer: 200 whenever the process can answer at all. */
export function healthResponse(startedAt: number): Response {
  return Response.json({
    status: "ok",
    uptime_seconds: Math.round((performance.now() - startedAt) / 10) / 100,
  }, { headers: NO_STORE });
}

/** The `/readyz` answer: 200 when ready, 503 with the failing checks otherwise. */
export async function readinessResponse(readiness: Readiness): Promise<Response> {
  const report = await readiness.check();
  return Response.json(report, {
    status: report.status === "ready" ? 200 : 503,
    headers: NO_STORE,
  });
}
