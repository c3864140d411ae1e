/**
 * Origin checks against cross-site use of ambient credentials: WebSocket
 * upgrades (which browsers send cross-origin freely) and cookie-carrying
 * requests.
 *
 * @module
 */

/**
 * Whether an `Origin` header value is acceptable: the service's own origin
 * (matched on host and port against the `Host` header, so it also holds
 * behind a TLS-terminating proxy that keeps `Host`), or one of `allowed`.
 *
 * @param origin The `Origin` header; `"null"` (sandboxed pages, files) never matches the host.
 * @param host The request's `Host` header.
 * @param allowed Allowlisted origins; `*` allows any.
 */
export function originAllowed(
  origin: string,
  host: string | null,
  allowed: readonly string[],
): boolean {
  if (allowed.includes("*")) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.origin === "null") return false;
  if (allowed.includes(url.origin)) return true;
  return host !== null && url.host.toLowerCase() === host.toLowerCase();
}
