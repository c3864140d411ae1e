// Server-mode connections that survive the service going away: connect,
// open the page's tables, and on a lost WebSocket (restart, network, a 4008
// for a slow client) try again with backoff, saying so in the header.
import perspective from "perspective";
import { authorizedFetch, withToken } from "./token.js";

/** An error retrying cannot fix (no token, a token that may not read). */
export class Fatal extends Error {}

/** A URL below the service's base path, derived from where this script was served. */
export function serviceUrl(path) {
  return new URL(`../${path}`, import.meta.url);
}

/** The WebSocket URL, so it works under any base path. */
export function websocketUrl() {
  const url = serviceUrl("websocket");
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/**
 * Describes a table over HTTP, where a refused token is visible (a refused
 * WebSocket upgrade is not). Throws {@link Fatal} for 401 and 403.
 */
export async function describeTable(name) {
  const res = await authorizedFetch(serviceUrl(`api/tables/${encodeURIComponent(name)}`), {
    cache: "no-store",
  });
  if (res.status === 401) throw new Fatal("an access token is required");
  if (res.status === 403) throw new Fatal(`this token may not read ${name}`);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(res.status === 404 ? `no table named ${name}` : `${res.status}`);
  }
  return await res.json();
}

/** Which of `tables` this tab's WebSocket session may write to. */
export async function writableTables(tables) {
  const url = serviceUrl("api/session");
  for (const t of tables) url.searchParams.append("table", t);
  try {
    const res = await authorizedFetch(url, { cache: "no-store" });
    if (!res.ok) return {};
    return (await res.json()).write ?? {};
  } catch {
    return {};
  }
}

/** Sets the header's connection indicator; the page dims its stale rows while not live. */
export function setStatus(status, text, state) {
  status.textContent = text;
  status.dataset.state = state;
  status.classList.toggle("error", state === "error");
  status.classList.toggle("live", state === "live");
  document.body.dataset.connection = state;
  if (state !== "live") lostAt = Date.now();
}

let lostAt = 0;

// A lost WebSocket fails every request the viewers had in flight, and the
// viewer lets those rejections go unhandled. The header already says what
// happened, so they are not reported a second time.
globalThis.addEventListener("unhandledrejection", (event) => {
  const message = String(event.reason?.message ?? event.reason);
  const recent = Date.now() - lostAt < 5_000 || document.body.dataset.connection !== "live";
  if (recent && /WebSocket|Transport error|Internal error for req/.test(message)) {
    event.preventDefault();
  }
});

/**
 * Connects and calls `open(client)` after every (re)connection; `open` loads
 * the page's tables and restores its layout. `prepare()` runs first, over
 * HTTP, so that a refused token is seen (and asked for) before a WebSocket
 * opens. Resolves after the first attempt, connected or not; rejects only on
 * a {@link Fatal} error.
 */
export function keepConnected(status, prepare, open) {
  let attempt = 0;
  let timer;
  const retry = () => {
    const delay = Math.round(Math.min(500 * 2 ** attempt, 10_000) * (0.8 + Math.random() * 0.4));
    attempt++;
    const at = new Date(Date.now() + delay).toLocaleTimeString();
    setStatus(status, `reconnecting… next attempt at ${at}`, "reconnecting");
    clearTimeout(timer);
    timer = setTimeout(() => connect().catch(() => {}), delay);
  };
  const connect = async () => {
    let client;
    let lost = false;
    try {
      await prepare();
      client = await perspective.websocket(withToken(websocketUrl()));
      await client.on_error(() => {
        if (lost) return;
        lost = true;
        terminate(client);
        retry();
      });
      await open(client);
      if (lost) return;
      attempt = 0;
      setStatus(status, "live", "live");
    } catch (err) {
      const wasLost = lost;
      lost = true;
      terminate(client);
      if (err instanceof Fatal) {
        setStatus(status, `error: ${err.message}`, "error");
        throw err;
      }
      if (!wasLost) retry();
    }
  };
  setStatus(status, "connecting…", "connecting");
  return connect();
}

function terminate(client) {
  try {
    client?.terminate();
  } catch {
    // Already closed.
  }
}
