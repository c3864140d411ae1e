// The home page: every table with its size, rate and columns, the engine's
// memory, the saved dashboards, and how to send a first table when there is
// none. Refreshes every second.
import { authorizedFetch, currentToken } from "./token.js";

const body = document.getElementById("tables");
const status = document.getElementById("status");
const table = document.querySelector("table.tables");
const empty = document.getElementById("empty");
const memory = document.getElementById("memory");
const dashboards = document.getElementById("dashboards");
const api = (path) => new URL(`../${path}`, import.meta.url);
let open = true;

function cell(content, className) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  if (className) td.className = className;
  return td;
}

function link(path, text) {
  const a = document.createElement("a");
  a.href = api(path).href;
  a.textContent = text;
  return a;
}

function megabytes(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function rate(value) {
  if (value === null || value === undefined) return "…";
  return value >= 10 ? Math.round(value).toLocaleString() : value.toFixed(1);
}

function columnsCell(schema) {
  const names = Object.entries(schema);
  const count = document.createElement("strong");
  count.textContent = String(names.length);
  const detail = document.createElement("span");
  detail.className = "muted";
  detail.textContent = ` ${names.map(([c, ty]) => `${c}: ${ty}`).join(", ")}`;
  const wrap = document.createElement("span");
  wrap.append(count, detail);
  return cell(wrap, "columns");
}

function curlLine() {
  const url = api("api/tables/example/rows").href;
  const auth = open ? "" : ` -H "authorization: Bearer $TOKEN"`;
  return `curl -X POST${auth} -H 'content-type: application/json' \\\n` +
    `  --data '[{"symbol": "AAPL", "price": 189.5}, {"symbol": "MSFT", "price": 415.2}]' \\\n` +
    `  ${url}`;
}

function renderTables(overview) {
  const rows = overview.tables.map((t) => {
    const tr = document.createElement("tr");
    tr.dataset.table = t.name;
    tr.append(
      cell(link(`view/${encodeURIComponent(t.name)}`, t.name)),
      cell(t.size.toLocaleString(), "num rows"),
      cell(rate(t.rowsPerSecond), "num rate"),
      columnsCell(t.schema),
      cell(t.index ?? "—"),
      cell(t.limit === null ? "—" : t.limit.toLocaleString(), "num"),
    );
    return tr;
  });
  body.replaceChildren(...rows);
  table.hidden = rows.length === 0;
  empty.hidden = rows.length !== 0;
  if (rows.length === 0) document.getElementById("curl").textContent = curlLine();
  status.textContent = "";
  const e = overview.engine;
  memory.textContent = e.usedBytes === null
    ? ""
    : `Engine memory ${megabytes(e.usedBytes)} used of ${megabytes(e.heapBytes ?? e.usedBytes)}`;
}

function renderDashboards(list) {
  const items = list.map((d) => {
    const li = document.createElement("li");
    li.dataset.dashboard = d.name;
    const tables = document.createElement("span");
    tables.className = "muted";
    tables.textContent = ` · ${d.tables.length === 1 ? "table" : "tables"} ${d.tables.join(", ")}`;
    li.append(link(`dashboard/${encodeURIComponent(d.name)}`, d.name), tables);
    return li;
  });
  if (items.length === 0) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "None saved yet.";
    items.push(li);
  }
  dashboards.replaceChildren(...items);
}

async function getJson(path) {
  const res = await authorizedFetch(api(path), { cache: "no-store" });
  if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
  return await res.json();
}

async function refresh() {
  try {
    const [overview, list] = await Promise.all([
      getJson("api/overview"),
      getJson("api/dashboards"),
    ]);
    renderTables(overview);
    renderDashboards(list);
    status.classList.remove("error");
  } catch (err) {
    status.textContent = `Could not load tables: ${err.message}`;
    status.classList.add("error");
  }
  setTimeout(refresh, 1000);
}

document.getElementById("new-dashboard").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = new FormData(event.target).get("name");
  location.assign(api(`dashboard/${encodeURIComponent(name)}`));
});

getJson("api/session").then((s) => open = s.open).catch(() => open = currentToken() === null);
refresh();
