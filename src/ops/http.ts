/**
 * The shape of an HTTP handler, shared by the server that builds one and the
 * operator wrappers (instrumentation, request log, shutdown) around it.
 *
 * @module
 */

/** Answers one request; `info` carries the client's address when served from a socket. */
export type Handler = (req: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>;
