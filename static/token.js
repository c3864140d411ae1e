// The access token for this tab: asked for when the server answers 401, kept
// in sessionStorage (so it ends with the tab), sent as a bearer header on
// fetches and as ?token= on the WebSocket, where browsers cannot set headers.
const KEY = "perspective-token";
// After a cancelled prompt, pages that poll stop asking until a reload.
let declined = false;

/** The tab's token, or null. */
export function currentToken() {
  return sessionStorage.getItem(KEY);
}

function ask(message) {
  if (declined) return false;
  const entered = globalThis.prompt(message);
  if (entered && entered.trim() !== "") {
    sessionStorage.setItem(KEY, entered.trim());
    return true;
  }
  sessionStorage.removeItem(KEY);
  declined = true;
  return false;
}

/** fetch() with the tab's token; on 401 asks for a token and retries. */
export async function authorizedFetch(url, init = {}) {
  let message = "This server needs an access token:";
  while (true) {
    const token = currentToken();
    const headers = new Headers(init.headers);
    if (token) headers.set("authorization", `Bearer ${token}`);
    const res = await fetch(url, { ...init, headers });
    if (res.status !== 401) return res;
    await res.body?.cancel();
    if (!ask(message)) return res;
    message = "That token was not accepted. Access token:";
  }
}

/** A WebSocket URL carrying the tab's token, if any. */
export function withToken(wsUrl) {
  const token = currentToken();
  if (!token) return wsUrl;
  const url = new URL(wsUrl);
  url.searchParams.set("token", token);
  return url.href;
}
