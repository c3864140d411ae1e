/**
 * Security: bearer tokens with scopes and table patterns, Origin checks,
 * read-only WebSocket sessions, and connection, message and rate limits.
 *
 * @module
 */

export {
  checkBinding,
  DEFAULT_LIMITS,
  isLoopback,
  readSecurityConfig,
  SECURITY_ENV_VARS,
  type SecurityConfig,
  securityConfig,
  type SecurityLimits,
  type SecuritySection,
} from "./config.ts";
export { type Principal, type RouteScope, scopeFor, Security, TOKEN_PARAM } from "./security.ts";
export { allows, type Grants, type Scope, SCOPES } from "./scopes.ts";
export { sha256, timingSafeEqual, type TokenSpec } from "./tokens.ts";
export { applyEdit, EDIT_SOURCE, type EditSink } from "./ws_edits.ts";
export {
  admitUpgrade,
  CLOSE_BACKLOG,
  CLOSE_INVALID_PAYLOAD,
  CLOSE_MESSAGE_TOO_BIG,
  type GateHost,
  MAX_WAITING_MESSAGES_OF_MAX_SIZE,
  MAX_WAITING_REQUESTS,
  SocketGate,
} from "./ws_gate.ts";
