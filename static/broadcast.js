// Replicated mode's transport: the service's broadcast stream for one table
// (protocol: src/fanout/broadcast_protocol.ts). A local table in a worker
// takes the snapshot, then the deltas every viewer shares; after a drop (for
// instance 4008, too slow) it reconnects and starts again from a snapshot.

const FRAME_SNAPSHOT = 1;
const FRAME_DELTA = 2;
const CLOSE_TABLE_DELETED = 4004;

/** The broadcast URL of a table, derived from where this script was served. */
export function broadcastUrl(table) {
  const url = new URL(`../websocket/broadcast/${encodeURIComponent(table)}`, import.meta.url);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/**
 * Opens a replica of a table in `worker` fed from `url`; resolves with the
 * local table once the first snapshot is in. `onStatus(text, state)` hears
 * about drops and recoveries. `order`, the server's column order, is kept
 * (the stream's schema object has none).
 */
export function openReplica(worker, url, onStatus = () => {}, order = []) {
  return new Promise((resolve, reject) => {
    let table;
    let chain = Promise.resolve();
    let retry = 500;
    const connect = () => {
      const socket = new WebSocket(url);
      socket.binaryType = "arraybuffer";
      socket.onmessage = (event) => {
        chain = chain.then(async () => {
          if (typeof event.data === "string") {
            const hello = JSON.parse(event.data);
            const options = hello.index
              ? { index: hello.index }
              : hello.limit
              ? { limit: hello.limit }
              : {};
            table ??= await worker.table(ordered(hello.schema, order), options);
            return;
          }
          const bytes = new Uint8Array(event.data);
          const arrow = bytes.slice(1).buffer;
          if (bytes[0] === FRAME_SNAPSHOT) {
            await table.replace(arrow);
            if (retry > 500) onStatus("live", "live");
            retry = 500;
            resolve(table);
          } else if (bytes[0] === FRAME_DELTA) {
            await table.update(arrow);
          }
        }).catch(reject);
      };
      socket.onclose = (event) => {
        if (event.code === CLOSE_TABLE_DELETED) {
          onStatus("table dropped", "error");
          reject(new Error("the table was deleted"));
          return;
        }
        const at = new Date(Date.now() + retry).toLocaleTimeString();
        onStatus(`reconnecting… next attempt at ${at}`, "reconnecting");
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10_000) + 1;
      };
    };
    connect();
  });
}

function ordered(schema, order) {
  const out = {};
  for (const name of order) if (Object.hasOwn(schema, name)) out[name] = schema[name];
  for (const [name, type] of Object.entries(schema)) out[name] ??= type;
  return out;
}
