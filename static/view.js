// The viewer page: connects to the service, opens one table, and keeps the
// viewer's layout in the URL fragment so a link reproduces the view.
import perspective from "perspective";
import "perspective-viewer";
import "perspective-viewer-datagrid";
import "perspective-viewer-d3fc";
import { authorizedFetch, withToken } from "./token.js";
import { broadcastUrl, openReplica } from "./broadcast.js";

const viewer = document.querySelector("perspective-viewer");
const status = document.getElementById("status");
const modeSelect = document.getElementById("mode");
const params = new URLSearchParams(location.search);
const tableName = decodeURIComponent(location.pathname.split("/").pop());
const mode = params.get("mode") === "replicated" ? "replicated" : "server";

document.title = `${tableName} · Perspective`;
document.getElementById("title").textContent = tableName;
modeSelect.value = mode;
modeSelect.addEventListener("change", () => {
  const next = new URL(location.href);
  next.searchParams.set("mode", modeSelect.value);
  location.assign(next);
});

/** The WebSocket URL, derived from where this script was served, so it works under any base path. */
function websocketUrl() {
  const url = new URL("../websocket", import.meta.url);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function savedLayout() {
  if (location.hash.length <= 1) return null;
  try {
    return JSON.parse(decodeURIComponent(location.hash.slice(1)));
  } catch {
    return null;
  }
}

async function openTable() {
  // A refused WebSocket upgrade is invisible to the page, so the token is
  // settled over HTTP first.
  const probe = await authorizedFetch(
    new URL(`../api/tables/${encodeURIComponent(tableName)}`, import.meta.url),
  );
  await probe.body?.cancel();
  if (probe.status === 401) throw new Error("an access token is required");
  if (probe.status === 403) throw new Error("this token may not read this table");
  if (mode === "replicated") {
    // A local engine in a worker mirrors the table from the shared broadcast stream.
    const onStatus = (text) => (status.textContent = text);
    return openReplica(await perspective.worker(), withToken(broadcastUrl(tableName)), onStatus);
  }
  const client = await perspective.websocket(withToken(websocketUrl()));
  return await client.open_table(tableName);
}

async function main() {
  status.textContent = "connecting…";
  const table = await openTable();
  await viewer.load(table);
  const layout = savedLayout();
  if (layout) await viewer.restore(layout);
  viewer.addEventListener("perspective-config-update", async () => {
    const config = await viewer.save();
    history.replaceState(null, "", `#${encodeURIComponent(JSON.stringify(config))}`);
  });
  status.textContent = mode === "replicated" ? "replicated" : "live";
  document.body.dataset.ready = "true";
  // Dropping the table deletes this page's views; say so rather than show stale rows.
  if (mode !== "replicated") {
    await table.on_delete(() => {
      status.textContent = "table dropped";
      status.classList.add("error");
      document.body.dataset.ready = "dropped";
    });
  }
}

main().catch((err) => {
  status.textContent = `error: ${err.message ?? err}`;
  status.classList.add("error");
  document.body.dataset.ready = "error";
});
