// A dashboard: several viewers over one or more tables in a resizable
// <perspective-workspace>, saved on the server. Reconnects by itself and
// restores the layout it had.
import "perspective-viewer";
import "perspective-viewer-datagrid";
import "perspective-viewer-d3fc";
import "perspective-workspace";
import { authorizedFetch } from "./token.js";
import { describeTable, keepConnected, serviceUrl, setStatus, writableTables } from "./live.js";
import { onThemeChange, themeName } from "./theme.js";
import { applyEditMode, guardEditMode } from "./editing.js";

const workspace = document.querySelector("perspective-workspace");
const status = document.getElementById("status");
const saved = document.getElementById("saved");
const addSelect = document.getElementById("add");
let name = decodeURIComponent(location.pathname.split("/").pop());
let layout = { sizes: [1], detail: { main: null }, viewers: {} };
let writable = {};
const guarded = new WeakSet();

function showName() {
  document.title = `${name} · Perspective dashboard`;
  document.getElementById("title").textContent = name;
}

function dashboardUrl(n) {
  return serviceUrl(`api/dashboards/${encodeURIComponent(n)}`);
}

async function problemText(res) {
  try {
    return (await res.json()).detail ?? `${res.status}`;
  } catch {
    return `${res.status}`;
  }
}

async function loadSaved() {
  const res = await authorizedFetch(dashboardUrl(name), { cache: "no-store" });
  if (res.status === 404) {
    await res.body?.cancel();
    saved.textContent = "new dashboard: add a table, then Save";
    return;
  }
  if (!res.ok) throw new Error(await problemText(res));
  layout = await res.json();
}

/** The workspace's layout without themes, which follow the operating system. */
async function currentLayout() {
  const out = await workspace.save();
  for (const viewer of Object.values(out.viewers ?? {})) delete viewer.theme;
  return out;
}

function themed(config) {
  const out = structuredClone(config);
  for (const viewer of Object.values(out.viewers ?? {})) viewer.theme = themeName();
  return out;
}

function tablesOf(config) {
  return [...new Set(Object.values(config.viewers ?? {}).map((v) => v.table))];
}

async function applyEditing() {
  for (const viewer of workspace.querySelectorAll("perspective-viewer")) {
    const table = viewer.getAttribute("table");
    if (!guarded.has(viewer)) {
      guarded.add(viewer);
      guardEditMode(viewer, () => writable[viewer.getAttribute("table")] === true);
    }
    try {
      await applyEditMode(viewer, writable[table] === true);
    } catch {
      // A viewer still loading picks its mode up on the next layout update.
    }
  }
}

async function save(target) {
  const body = JSON.stringify(await currentLayout());
  const res = await authorizedFetch(dashboardUrl(target), {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body,
  });
  if (!res.ok) {
    saved.textContent = `not saved: ${await problemText(res)}`;
    saved.classList.add("error");
    return false;
  }
  await res.body?.cancel();
  saved.classList.remove("error");
  saved.textContent = `saved ${new Date().toLocaleTimeString()}`;
  document.body.dataset.saved = target;
  return true;
}

document.getElementById("save").addEventListener("click", () => save(name));
document.getElementById("save-as").addEventListener("click", async () => {
  const next = globalThis.prompt("Save this dashboard as:", name)?.trim();
  if (!next || !await save(next)) return;
  name = next;
  showName();
  history.replaceState(null, "", `./${encodeURIComponent(name)}${location.search}`);
});

async function fillAddMenu() {
  const res = await authorizedFetch(serviceUrl("api/tables"), { cache: "no-store" });
  if (!res.ok) return;
  for (const t of await res.json()) {
    const option = document.createElement("option");
    option.value = option.textContent = t.name;
    addSelect.append(option);
  }
}

addSelect.addEventListener("change", async () => {
  const table = addSelect.value;
  addSelect.value = "";
  if (!table) return;
  if (!workspace.tables.has(table) && currentClient) {
    workspace.addTable(table, currentClient.open_table(table));
    writable = { ...writable, ...await writableTables([table]) };
  }
  await workspace.addViewer({ table, title: table, theme: themeName() });
  layout = await currentLayout();
});

let currentClient;

async function main() {
  showName();
  await loadSaved();
  writable = await writableTables(tablesOf(layout));
  void fillAddMenu();
  workspace.addEventListener("workspace-layout-update", async () => {
    if (document.body.dataset.ready !== "true") return;
    layout = await currentLayout();
    await applyEditing();
  });
  // Settles the token over HTTP, where a refusal is visible.
  const prepare = () => Promise.all(tablesOf(layout).map((t) => describeTable(t)));
  await keepConnected(status, prepare, async (client) => {
    currentClient = client;
    const tables = tablesOf(layout);
    document.body.dataset.ready = "loading";
    for (const t of tables) {
      const table = client.open_table(t);
      if (workspace.tables.has(t)) await workspace.replaceTable(t, table);
      else workspace.addTable(t, table);
    }
    // Replacing a table resets its viewers, so the layout is put back.
    await workspace.restore(themed(layout));
    await workspace.flush();
    await applyEditing();
    document.body.dataset.ready = "true";
  });
}

onThemeChange(async () => {
  if (document.body.dataset.ready === "true") {
    await workspace.restore(themed(await currentLayout()));
  }
});

main().catch((err) => {
  setStatus(status, `error: ${err.message ?? err}`, "error");
  document.body.dataset.ready = "error";
});
