/**
 * Ingest: batches from sources, validated, logged and applied.
 *
 * @module
 */

export {
  type Batch,
  type BatchFormat,
  type BatchOp,
  type BatchResult,
  type CreateOptions,
  IngestError,
  type TableDef,
  type ValidBatch,
} from "./batch.ts";
export { DEFAULT_INGEST_LIMITS, type IngestLimits, limits } from "./limits.ts";
export { readBody } from "./body.ts";
export { type BatchLog, OrderedLog } from "../storage/log.ts";
export { BatchSink, type IngestEvent, type Sink, type SinkOptions } from "./sink.ts";
export {
  BUILTIN_SOURCES,
  loadSource,
  type SourceCheck,
  type SourceContext,
  type SourceFactory,
} from "./source.ts";
export {
  type RestartPolicy,
  type RunningSources,
  type SourceStatus,
  startSources,
} from "./source_runner.ts";
export { validateBatch } from "./validate.ts";
