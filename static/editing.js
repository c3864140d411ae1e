// The grid is editable exactly when this tab's WebSocket session may write
// to the viewer's table (a write token, or ALLOW_EDIT in open mode); edits
// are then ordinary table updates, refused by the service otherwise.

/** Makes `viewer`'s grid editable or read-only; other plugins are left alone. */
export async function applyEditMode(viewer, writable) {
  const config = await viewer.save();
  if (config.plugin !== "Datagrid") return;
  const mode = writable ? "EDIT" : "READ_ONLY";
  hideEditToggle(viewer, !writable);
  if (config.plugin_config?.edit_mode === mode) return;
  await viewer.restore({ plugin_config: { ...config.plugin_config, edit_mode: mode } });
}

/** Keeps a read-only viewer from being switched to editing by its toolbar. */
export function guardEditMode(viewer, isWritable) {
  viewer.addEventListener("perspective-config-update", async () => {
    if (isWritable()) return;
    const config = await viewer.save();
    if (config.plugin === "Datagrid" && config.plugin_config?.edit_mode === "EDIT") {
      await applyEditMode(viewer, false);
    }
  });
}

function hideEditToggle(viewer, hide) {
  const toolbar = viewer.querySelector("perspective-viewer-datagrid-toolbar");
  const root = toolbar?.shadowRoot;
  if (!root) return;
  let style = root.getElementById("read-only-session");
  if (!style) {
    style = document.createElement("style");
    style.id = "read-only-session";
    style.textContent = "#edit_mode { display: none !important; }";
    root.append(style);
  }
  style.disabled = !hide;
}
