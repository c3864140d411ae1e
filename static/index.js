// Lists the hosted tables and refreshes the list every second.
import { authorizedFetch } from "./token.js";

const body = document.getElementById("tables");
const status = document.getElementById("status");
const table = document.querySelector("table.tables");
const api = new URL("../api/tables", import.meta.url);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function render(tables) {
  const rows = tables.map((t) => {
    const tr = document.createElement("tr");
    tr.dataset.table = t.name;
    const link = document.createElement("a");
    link.href = new URL(`../view/${encodeURIComponent(t.name)}`, import.meta.url).href;
    link.textContent = t.name;
    const name = document.createElement("td");
    name.append(link);
    const columns = Object.entries(t.schema).map(([c, ty]) => `${c}: ${ty}`).join(", ");
    tr.append(
      name,
      cell(t.size.toLocaleString(), "num rows"),
      cell(columns, "columns"),
      cell(t.index ?? "—"),
      cell(t.limit === null ? "—" : t.limit.toLocaleString(), "num"),
    );
    return tr;
  });
  body.replaceChildren(...rows);
  table.hidden = tables.length === 0;
  status.textContent = tables.length === 0 ? "No tables yet." : "";
}

async function refresh() {
  try {
    const res = await authorizedFetch(api, { cache: "no-store" });
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    render(await res.json());
    status.classList.remove("error");
  } catch (err) {
    status.textContent = `Could not load tables: ${err.message}`;
    status.classList.add("error");
  }
  setTimeout(refresh, 1000);
}

refresh();
