// The viewer page: opens one table, shows the table's default layout (or the
// one in the URL fragment, which it keeps up to date so a link reproduces the
// view), reconnects by itself, and lets sessions that may write edit the grid.
import perspective from "perspective";
import "perspective-viewer";
import "perspective-viewer-datagrid";
import "perspective-viewer-d3fc";
import { authorizedFetch, withToken } from "./token.js";
import { broadcastUrl, openReplica } from "./broadcast.js";
import { describeTable, keepConnected, serviceUrl, setStatus, writableTables } from "./live.js";
import { onThemeChange, themeName } from "./theme.js";
import { applyEditMode, guardEditMode } from "./editing.js";

const viewer = document.querySelector("perspective-viewer");
const status = document.getElementById("status");
const modeSelect = document.getElementById("mode");
const params = new URLSearchParams(location.search);
const tableName = decodeURIComponent(location.pathname.split("/").pop());
const mode = params.get("mode") === "replicated" ? "replicated" : "server";
let writable = false;
let dropped = false;

document.title = `${tableName} · Perspective`;
document.getElementById("title").textContent = tableName;
modeSelect.value = mode;
modeSelect.addEventListener("change", () => {
  const next = new URL(location.href);
  next.searchParams.set("mode", modeSelect.value);
  location.assign(next);
});

function layoutFromUrl() {
  if (location.hash.length <= 1) return null;
  try {
    return JSON.parse(decodeURIComponent(location.hash.slice(1)));
  } catch {
    return null;
  }
}

async function defaultLayout() {
  const res = await authorizedFetch(
    serviceUrl(`api/tables/${encodeURIComponent(tableName)}/layout`),
    { cache: "no-store" },
  );
  if (!res.ok) {
    await res.body?.cancel();
    return null;
  }
  return await res.json();
}

/** The layout to show: the URL's, else the table's default, else the server's column order. */
async function initialLayout(info) {
  const layout = layoutFromUrl() ?? await defaultLayout() ?? {};
  if (!layout.columns) layout.columns = Object.keys(info.schema);
  return layout;
}

/** The viewer's layout without the theme, which follows the operating system instead. */
async function currentLayout() {
  const config = await viewer.save();
  delete config.theme;
  return config;
}

function trackLayoutInUrl() {
  viewer.addEventListener("perspective-config-update", async () => {
    const config = await currentLayout();
    history.replaceState(null, "", `#${encodeURIComponent(JSON.stringify(config))}`);
  });
}

async function show(table, layout) {
  await viewer.load(table);
  await viewer.restore({ ...layout, theme: themeName() });
  await applyEditMode(viewer, writable);
}

async function replicated() {
  const info = await describeTable(tableName);
  const layout = await initialLayout(info);
  // A local engine in a worker mirrors the table from the shared broadcast stream.
  const onStatus = (text, state) => setStatus(status, text, state);
  const table = await openReplica(
    await perspective.worker(),
    withToken(broadcastUrl(tableName)),
    onStatus,
    Object.keys(info.schema),
  );
  await show(table, layout);
  setStatus(status, "live", "live");
  trackLayoutInUrl();
  document.body.dataset.ready = "true";
}

async function server() {
  let layout;
  let tracking = false;
  const prepare = async () => {
    const info = await describeTable(tableName);
    if (layout === undefined) {
      layout = await initialLayout(info);
      writable = (await writableTables([tableName]))[tableName] === true;
    } else {
      // Reconnecting: bring back what the user had, not the default.
      layout = layoutFromUrl() ?? layout;
    }
  };
  await keepConnected(status, prepare, async (client) => {
    const table = await client.open_table(tableName);
    await show(table, layout);
    if (!tracking) {
      tracking = true;
      trackLayoutInUrl();
      guardEditMode(viewer, () => writable);
    }
    // Dropping the table deletes this page's views; say so rather than show stale rows.
    await table.on_delete(() => {
      dropped = true;
      setStatus(status, "table dropped", "error");
      document.body.dataset.ready = "dropped";
    });
    if (!dropped) document.body.dataset.ready = "true";
  });
}

onThemeChange((theme) => viewer.restore({ theme }));

(mode === "replicated" ? replicated() : server()).catch((err) => {
  setStatus(status, `error: ${err.message ?? err}`, "error");
  document.body.dataset.ready = "error";
});
