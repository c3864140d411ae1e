/**
 * The machine-readable description of the HTTP API (OpenAPI 3.1), served at
 * `GET /api/openapi.json` for client generators.
 *
 * @module
 */

import { COLUMN_TYPES } from "../ingest/batch.ts";
import type { Route } from "./router.ts";

const problem = {
  "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } },
};
const err = (description: string) => ({ description, content: problem });
const tableParam = {
  name: "table",
  in: "path",
  required: true,
  schema: { type: "string", minLength: 1, maxLength: 255 },
};
const binary = { schema: { type: "string", format: "binary" } };
const text = { schema: { type: "string" } };
const batchBody = {
  required: true,
  description: "A batch. `Content-Encoding: gzip` or `deflate` is accepted.",
  content: {
    "application/vnd.apache.arrow.stream": binary,
    "application/vnd.apache.arrow.file": binary,
    "application/json": {
      schema: {
        oneOf: [
          { type: "array", items: { type: "object" }, description: "rows" },
          {
            type: "object",
            additionalProperties: { type: "array" },
            description: "columns",
          },
        ],
      },
    },
    "application/x-ndjson": text,
    "text/csv": text,
  },
};
const batchErrors = {
  400: err("Malformed body"),
  401: err("No or bad credentials"),
  403: err("Not allowed"),
  404: err("No such table"),
  413: err("Body or decoded body too large"),
  415: err("Unknown media type or content coding"),
  422: err("The batch does not fit the table's schema"),
  429: err("Too many requests; see Retry-After"),
  500: err("The engine did not store the whole batch; not acknowledged"),
  507: err("No room: the engine memory budget or the table's row ceiling"),
};
const rowsResult = {
  content: { "application/json": { schema: { $ref: "#/components/schemas/BatchResult" } } },
};

/** The OpenAPI document. */
export const OPENAPI = {
  openapi: "3.1.0",
  info: {
    title: "Perspective server",
    version: "1",
    description: "Hosts Perspective tables, ingests batches and streams them to viewers. " +
      "All paths sit under the service's base path. A rejected batch changes nothing.",
  },
  servers: [{ url: "." }],
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    schemas: {
      Problem: {
        type: "object",
        properties: {
          type: { type: "string" },
          title: { type: "string" },
          status: { type: "integer" },
          detail: { type: "string" },
        },
      },
      Schema: {
        type: "object",
        additionalProperties: { enum: COLUMN_TYPES },
        minProperties: 1,
      },
      TableDefinition: {
        type: "object",
        required: ["schema"],
        additionalProperties: false,
        properties: {
          schema: { $ref: "#/components/schemas/Schema" },
          index: { type: "string", description: "Column to upsert on" },
          limit: { type: "integer", minimum: 1, description: "Rows kept; oldest roll over" },
        },
      },
      TableInfo: {
        type: "object",
        properties: {
          name: { type: "string" },
          size: { type: "integer" },
          schema: { $ref: "#/components/schemas/Schema" },
          index: { type: ["string", "null"] },
          limit: { type: ["integer", "null"] },
        },
      },
      BatchResult: {
        type: "object",
        properties: {
          table: { type: "string" },
          rows: { type: "integer", description: "Rows in the batch; rows removed for DELETE" },
          size: { type: "integer", description: "Table size after the batch" },
        },
      },
    },
  },
  security: [{}, { bearer: [] }],
  paths: {
    "/api/tables": {
      get: {
        summary: "List tables",
        responses: {
          200: {
            description: "Tables",
            content: {
              "application/json": {
                schema: { type: "array", items: { $ref: "#/components/schemas/TableInfo" } },
              },
            },
          },
        },
      },
    },
    "/api/tables/{table}": {
      parameters: [tableParam],
      get: {
        summary: "Describe a table",
        responses: {
          200: {
            description: "The table",
            content: { "application/json": { schema: { $ref: "#/components/schemas/TableInfo" } } },
          },
          404: err("No such table"),
          503: err("The engine could not describe the table"),
        },
      },
      put: {
        summary: "Create a table (admin)",
        requestBody: {
          required: true,
          content: {
            "application/json": { schema: { $ref: "#/components/schemas/TableDefinition" } },
          },
        },
        responses: {
          201: { description: "Created" },
          200: { description: "Already exists with the same definition" },
          400: err("Bad definition"),
          409: err("Exists with a different definition"),
          507: err("No room in the engine memory budget"),
        },
      },
      delete: {
        summary: "Drop a table (admin); its viewers are told it is gone",
        responses: { 204: { description: "Dropped" }, 404: err("No such table") },
      },
    },
    "/api/tables/{table}/rows": {
      parameters: [tableParam],
      get: {
        summary: "Export rows",
        description: "The body streams: the table is read in windows of about 50k cells as the " +
          "client takes them. Arrow is one IPC stream (one schema, plain Utf8 string columns). " +
          "A failure after the status is sent cuts the body off before its end.",
        parameters: [{
          name: "format",
          in: "query",
          schema: { enum: ["arrow", "csv", "json", "ndjson", "columns"] },
          description: "Overrides Accept",
        }],
        responses: {
          200: {
            description: "The rows",
            content: {
              "application/vnd.apache.arrow.stream": binary,
              "text/csv": text,
              "application/json": { schema: {} },
              "application/x-ndjson": text,
            },
          },
          400: err("Malformed format or position"),
          404: err("No such table"),
          406: err("No acceptable format"),
          503: err("The engine could not make the export"),
          507: err("No room in the engine memory budget for the export"),
        },
      },
      post: {
        summary: "Append rows, or upsert on the index; creates a missing table unless create=false",
        parameters: [
          {
            name: "index",
            in: "query",
            schema: { type: "string" },
            description: "For a new table; on an existing one it must match (409 otherwise)",
          },
          {
            name: "limit",
            in: "query",
            schema: { type: "integer", minimum: 1 },
            description: "For a new table; on an existing one it must match (409 otherwise)",
          },
          { name: "create", in: "query", schema: { type: "boolean" } },
        ],
        requestBody: batchBody,
        responses: {
          200: { description: "Applied", ...rowsResult },
          201: { description: "Applied to a table it created", ...rowsResult },
          409: err("index or limit differ from the existing table's"),
          ...batchErrors,
        },
      },
      put: {
        summary: "Replace all rows",
        requestBody: batchBody,
        responses: { 200: { description: "Replaced", ...rowsResult }, ...batchErrors },
      },
      delete: {
        summary: "Remove rows by index key (JSON array body), or clear (no body)",
        requestBody: {
          required: false,
          content: { "application/json": { schema: { type: "array" } } },
        },
        responses: { 200: { description: "Removed", ...rowsResult }, ...batchErrors },
      },
    },
    "/api/openapi.json": {
      get: { summary: "This document", responses: { 200: { description: "OpenAPI 3.1" } } },
    },
  },
};

/** `GET /api/openapi.json`. */
export function openApiRoutes(): Route[] {
  const body = JSON.stringify(OPENAPI);
  return [{
    methods: ["GET"],
    path: "/api/openapi.json",
    scope: "public",
    handle: () =>
      new Response(body, {
        headers: { "content-type": "application/json", "cache-control": "max-age=300" },
      }),
  }];
}
