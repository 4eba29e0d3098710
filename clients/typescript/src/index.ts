/**
 * A small typed client for bedrock-gateway (gRPC contract `bedrock.gateway.v1`).
 *
 * The contract is loaded at run time from the repository's `proto/` with
 * @grpc/proto-loader (no generated code); this module adds typed inputs and
 * results, async-iterable streams and a `GatewayError` that decodes the
 * google.rpc error details from the `grpc-status-details-bin` trailer.
 *
 * `google/protobuf/struct.proto` and `duration.proto` need no include
 * directory: protobufjs (under proto-loader) bundles the well-known types and
 * resolves any `google/protobuf/*.proto` import to them before it searches
 * `includeDirs`.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";

/** Where bedrock-gateway listens by default. */
export const DEFAULT_TARGET = "127.0.0.1:50051";
/** The gateway's service, also its readiness name in grpc.health.v1. */
export const SERVICE_NAME = "bedrock.gateway.v1.TextGenerationService";

// dist/src/index.js -> the package root -> the repository root.
const REPO_ROOT = path.resolve(__dirname, "..", "..", "..", "..");
/** The repository's proto/ directory (the contract). */
export const DEFAULT_PROTO_DIR = path.join(REPO_ROOT, "proto");
/** The repository's copies of google/rpc/error_details.proto and google/api's annotations. */
export const DEFAULT_GOOGLEAPIS_DIR = path.join(REPO_ROOT, "third_party", "googleapis");
/** grpc.health.v1's proto, as the grpc-health-check package ships it. */
export const HEALTH_PROTO_DIR = path.join(
  path.dirname(require.resolve("grpc-health-check/package.json")),
  "proto",
);

/** The proto-loader options every message shape below assumes. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

// ---------------------------------------------------------------------------
// Public types

export type Role = "user" | "assistant";
export type Api = "converse" | "invoke_model";

/** An image encoding (Bedrock's spelling). */
export type ImageFormat = "png" | "jpeg" | "gif" | "webp";
/** A document file type (Bedrock's spelling). */
export type DocumentFormat = "pdf" | "csv" | "doc" | "docx" | "xls" | "xlsx" | "html" | "txt" | "md";

/** An image sent inline, in a user turn. `data` must start with `format`'s signature. */
export interface Image {
  format: ImageFormat;
  data: Uint8Array;
}

/**
 * A document sent inline, in a user turn. `name`: 1 to 200 letters, digits,
 * single spaces, `-`, `(`, `)`, `[` and `]`.
 */
export interface Document {
  format: DocumentFormat;
  name: string;
  data: Uint8Array;
}

/** A JSON object (a google.protobuf.Struct on the wire). */
export type JsonObject = Record<string, unknown>;

/** A tool call the model made. Send it back unchanged in the assistant turn. */
export interface ToolUse {
  id: string;
  name: string;
  /** The call's arguments, following the tool's input schema. */
  input: JsonObject;
}

/** One piece of a tool's result: exactly one key. */
export type ToolResultContent = { text: string } | { json: JsonObject } | { image: Image } | { document: Document };

export type ToolResultStatus = "success" | "error";

/** The result of one tool call, in the user turn after the call. */
export interface ToolResult {
  /** The `id` of the ToolUse it answers. */
  toolUseId: string;
  content: ToolResultContent[];
  /** Unset says nothing (the model assumes success). */
  status?: ToolResultStatus;
}

/**
 * A piece of the model's reasoning (extended thinking): `text` with its
 * `signature`, or `redacted` bytes the provider encrypted. An answer's
 * reasoning blocks come first in its content; replay them unchanged in the
 * assistant turn (Bedrock checks the signature). In answers every field is
 * set (empty when absent).
 */
export interface Reasoning {
  text?: string;
  signature?: string;
  redacted?: Uint8Array;
}

/** A prompt cache's time to live: "5m", or "1h" on models that offer it. */
export type CacheTtl = "5m" | "1h";

/**
 * A prompt-cache point: everything before it (tools, system prompt, turns) is
 * cached. `ttl` unset is Bedrock's default, 5 minutes. As a block, it follows
 * at least one other block of its turn.
 */
export interface CachePoint {
  ttl?: CacheTtl;
}

/**
 * One block of a turn or of an answer (ContentBlock in the proto): an object
 * with exactly one key, e.g. `{ text: "..." }`, `{ image: {...} }`,
 * `{ toolUse: {...} }`, `{ reasoning: {...} }`, `{ cachePoint: {} }`. Test
 * which with `"toolUse" in block`.
 */
export type ContentBlock =
  | { text: string }
  | { image: Image }
  | { document: Document }
  | { toolUse: ToolUse }
  | { toolResult: ToolResult }
  | { reasoning: Reasoning }
  | { cachePoint: CachePoint };

/** A tool the model may call. */
export interface Tool {
  name: string;
  /** What the tool does; models choose tools by it. */
  description?: string;
  /** A JSON Schema (`{ type: "object", ... }`) for the tool's input. */
  inputSchema: JsonObject;
}

/** "auto": the model decides; "any": some tool; "tool": the one named `toolName`. */
export type ToolChoiceMode = "auto" | "any" | "tool";

export interface ToolChoice {
  mode: ToolChoiceMode;
  /** With mode "tool": the tool to call. */
  toolName?: string;
}

/** The tools a model may call; `toolChoice` unset means AUTO. */
export interface ToolConfig {
  tools: Tool[];
  toolChoice?: ToolChoice;
  /** A prompt-cache point after the tools. */
  cachePoint?: CachePoint;
}

/** Extended thinking: at most `budgetTokens` (≥ 1024, below `maxTokens`) of reasoning. */
export interface ReasoningConfig {
  budgetTokens: number;
}

export type GuardrailTrace = "disabled" | "enabled" | "enabled_full";
export type GuardrailStreamMode = "sync" | "async";

/**
 * A Bedrock guardrail to apply. `trace` unset is "disabled"; the trace comes
 * back as `guardrailTrace`. `streamMode` (streams only) unset is "sync".
 */
export interface GuardrailConfig {
  identifier: string;
  version: string;
  trace?: GuardrailTrace;
  streamMode?: GuardrailStreamMode;
}

/** A Bedrock service tier. */
export type ServiceTier = "default" | "priority" | "flex" | "reserved";
/** A Bedrock latency mode. */
export type Latency = "standard" | "optimized";

/** A JSON Schema the answer's text must follow. */
export interface OutputSchema {
  jsonSchema: JsonObject;
  name?: string;
  description?: string;
}

/**
 * One conversation turn. Set exactly one of `content` (the turn's text) and
 * `blocks` (its content blocks); `{ role: "assistant", blocks: result.content }`
 * replays an answer.
 */
export interface Message {
  role: Role;
  content?: string;
  blocks?: ContentBlock[];
}

/** Per-call options: a deadline and request metadata. */
export interface CallOptions {
  /** The call's deadline, in milliseconds from now. */
  timeoutMs?: number;
  /** Request metadata (headers). */
  metadata?: Record<string, string>;
}

/** What to generate. Set exactly one of `prompt` and `messages`. */
export interface GenerateOptions extends CallOptions {
  prompt?: string;
  messages?: Message[];
  system?: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  stopSequences?: string[];
  /** Passed to the model unchanged (a google.protobuf.Struct). */
  additionalModelRequestFields?: Record<string, unknown>;
  api?: Api;
  /** Tools the model may call; the answer may then be a call (`toolUses`). */
  toolConfig?: ToolConfig;
  /** The answer's text is JSON following this schema. */
  outputSchema?: OutputSchema;
  /** A prompt-cache point after the system prompt. */
  systemCachePoint?: CachePoint;
  /** Extended thinking; the answer's content then starts with its reasoning. */
  reasoning?: ReasoningConfig;
  /** A Bedrock guardrail (`streamMode` only on `stream`). */
  guardrail?: GuardrailConfig;
  /** The service tier to ask for; the served one is in the result. */
  serviceTier?: ServiceTier;
  /** The latency mode to ask for; the served one is in the result. */
  latency?: Latency;
  /** Up to 16 pairs recorded in Bedrock's invocation logs (not gRPC metadata: see `metadata`). */
  requestMetadata?: Record<string, string>;
}

/** What CountTokens counts: the input fields of GenerateOptions. */
export interface CountTokensOptions extends CallOptions {
  prompt?: string;
  messages?: Message[];
  system?: string;
  toolConfig?: ToolConfig;
}

/**
 * Tokens of one call. The three input counts are disjoint: `inputTokens`
 * excludes the cache's reads and writes, and `totalTokens` = input + cache
 * read + cache write + output.
 */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  cacheReadInputTokens: number;
  cacheWriteInputTokens: number;
}

/** The StopReason enum's name, e.g. "STOP_REASON_MAX_TOKENS". */
export type StopReason =
  | "STOP_REASON_UNSPECIFIED"
  | "STOP_REASON_END_TURN"
  | "STOP_REASON_MAX_TOKENS"
  | "STOP_REASON_STOP_SEQUENCE"
  | "STOP_REASON_CONTENT_FILTERED"
  | "STOP_REASON_GUARDRAIL_INTERVENED"
  | "STOP_REASON_TOOL_USE"
  | "STOP_REASON_MALFORMED_MODEL_OUTPUT"
  | "STOP_REASON_MALFORMED_TOOL_USE"
  | "STOP_REASON_MODEL_CONTEXT_WINDOW_EXCEEDED"
  | "STOP_REASON_OTHER";

/** A whole completion, as Generate returns it. */
export interface GenerateResult {
  text: string;
  stopReason: StopReason;
  rawStopReason: string;
  usage: Usage;
  invokedModelId: string;
  /** The foundation model that served the call (the model behind a profile ARN). */
  resolvedModelId: string;
  requestId: string;
  backend: string;
  backendLatencyMs: number | null;
  /** The answer block by block: `{ reasoning }` first (with reasoning), `{ text }` and `{ toolUse }` blocks. */
  content: ContentBlock[];
  /** The tool calls in `content`, in order (stop reason STOP_REASON_TOOL_USE). */
  toolUses: ToolUse[];
  /** The reasoning blocks in `content`, in order. */
  reasoning: Reasoning[];
  /** The service tier served; null when not reported. */
  serviceTier: ServiceTier | null;
  /** The latency mode served; null when not reported. */
  latency: Latency | null;
  /** The guardrail's trace (Bedrock's JSON shape), when asked for; else null. */
  guardrailTrace: JsonObject | null;
}

/** The final event of a stream: everything but the text. */
export interface Completion {
  stopReason: StopReason;
  rawStopReason: string;
  usage: Usage;
  invokedModelId: string;
  /** The foundation model that served the call. */
  resolvedModelId: string;
  requestId: string;
  backend: string;
  backendLatencyMs: number | null;
  timeToFirstTokenMs: number | null;
  /** Every tool call of the answer, its input fragments joined and parsed. */
  toolUses: ToolUse[];
  /** The service tier served; null when not reported. */
  serviceTier: ServiceTier | null;
  /** The latency mode served; null when not reported. */
  latency: Latency | null;
  /** The guardrail's trace (Bedrock's JSON shape), when asked for; else null. */
  guardrailTrace: JsonObject | null;
}

/** A piece of text of content block `index`. */
export interface TextDelta {
  text: string;
  index: number;
}

/** A tool call starts, as content block `index`. */
export interface ToolUseStart {
  index: number;
  id: string;
  name: string;
}

/** The next fragment of the input JSON of the tool call at `index`. */
export interface ToolUseDelta {
  index: number;
  inputJson: string;
}

/**
 * The next piece of the reasoning block at `index`: one of `text`,
 * `signature` (often alone in its own delta) and `redacted` is set.
 * `GenerationStream.content` joins them into reasoning blocks.
 */
export interface ReasoningDelta {
  index: number;
  text: string;
  signature: string;
  redacted: Uint8Array;
}

/**
 * One event of a stream (GenerateStreamResponse): exactly one key. `complete`
 * comes last.
 */
export type StreamEvent =
  | { delta: TextDelta }
  | { reasoningDelta: ReasoningDelta }
  | { toolUseStart: ToolUseStart }
  | { toolUseDelta: ToolUseDelta }
  | { complete: Completion };

export interface ModelSummary {
  modelId: string;
  modelArn: string;
  modelName: string;
  providerName: string;
  inputModalities: string[];
  outputModalities: string[];
  /** null when Bedrock does not say. */
  responseStreamingSupported: boolean | null;
  customizationsSupported: string[];
  inferenceTypesSupported: string[];
  lifecycleStatus: string;
}

/** ListModels filters; unset ones match every model. */
export interface ListModelsFilter extends CallOptions {
  provider?: string;
  outputModality?: string;
  inferenceType?: string;
  streaming?: boolean;
  customizationType?: string;
}

export interface FieldViolation {
  field: string;
  description: string;
}

export interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

export interface ResourceInfo {
  resourceType: string;
  resourceName: string;
  owner: string;
  description: string;
}

/** A failed call: the gRPC status and its google.rpc details. */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  /** The gRPC status code (grpc.status). */
  readonly code: grpc.status;
  /** The code's name, e.g. "INVALID_ARGUMENT". */
  readonly codeName: string;
  /** The status message. */
  readonly details: string;
  /** google.rpc.BadRequest: each rule an invalid request broke. */
  readonly fieldViolations: FieldViolation[];
  readonly errorInfo: ErrorInfo | null;
  /** google.rpc.RetryInfo's delay, in milliseconds. */
  readonly retryDelayMs: number | null;
  readonly resourceInfo: ResourceInfo | null;
  /** The trailers, `grpc-status-details-bin` included. */
  readonly metadata: grpc.Metadata;

  constructor(init: {
    code: grpc.status;
    details: string;
    fieldViolations?: FieldViolation[];
    errorInfo?: ErrorInfo | null;
    retryDelayMs?: number | null;
    resourceInfo?: ResourceInfo | null;
    metadata?: grpc.Metadata;
  }) {
    const codeName = grpc.status[init.code] ?? String(init.code);
    super(`${codeName}: ${init.details}`);
    this.code = init.code;
    this.codeName = codeName;
    this.details = init.details;
    this.fieldViolations = init.fieldViolations ?? [];
    this.errorInfo = init.errorInfo ?? null;
    this.retryDelayMs = init.retryDelayMs ?? null;
    this.resourceInfo = init.resourceInfo ?? null;
    this.metadata = init.metadata ?? new grpc.Metadata();
  }
}

// ---------------------------------------------------------------------------
// Message shapes as proto-loader gives them (LOADER_OPTIONS)

interface RawDuration {
  seconds: string;
  nanos: number;
}

interface RawUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
}

interface RawImage {
  format: string;
  data: Uint8Array;
}

interface RawDocument {
  format: string;
  name: string;
  data: Uint8Array;
}

interface RawToolUse {
  id: string;
  name: string;
  input: RawStruct | null;
}

interface RawToolResultContent {
  content?: "text" | "json" | "image" | "document";
  text?: string;
  json?: RawStruct | null;
  image?: RawImage | null;
  document?: RawDocument | null;
}

interface RawReasoning {
  text: string;
  signature: string;
  redacted: Uint8Array;
}

interface RawContentBlock {
  block?: "text" | "image" | "document" | "tool_use" | "tool_result" | "reasoning" | "cache_point";
  reasoning?: RawReasoning | null;
  cache_point?: { ttl: string } | null;
  text?: string;
  image?: RawImage | null;
  document?: RawDocument | null;
  tool_use?: RawToolUse | null;
  tool_result?: { tool_use_id: string; content: RawToolResultContent[]; status: string } | null;
}

interface RawGenerateResponse {
  text: string;
  stop_reason: StopReason;
  usage: RawUsage | null;
  invoked_model_id: string;
  backend_latency: RawDuration | null;
  request_id: string;
  backend: string;
  raw_stop_reason: string;
  resolved_model_id: string;
  content: RawContentBlock[];
  service_tier: string;
  latency: string;
  guardrail_trace: RawStruct | null;
}

interface RawGenerationComplete {
  stop_reason: StopReason;
  usage: RawUsage | null;
  invoked_model_id: string;
  backend_latency: RawDuration | null;
  request_id: string;
  backend: string;
  raw_stop_reason: string;
  time_to_first_token: RawDuration | null;
  resolved_model_id: string;
  tool_uses: RawToolUse[];
  service_tier: string;
  latency: string;
  guardrail_trace: RawStruct | null;
}

interface RawStreamEvent {
  event?: "delta" | "complete" | "tool_use_start" | "tool_use_delta" | "reasoning_delta";
  reasoning_delta?: { index: number; text: string; signature: string; redacted: Uint8Array } | null;
  delta?: { text: string; index: number } | null;
  complete?: RawGenerationComplete | null;
  tool_use_start?: { index: number; id: string; name: string } | null;
  tool_use_delta?: { index: number; input_json: string } | null;
}

interface RawModelSummary {
  model_id: string;
  model_arn: string;
  model_name: string;
  provider_name: string;
  input_modalities: string[];
  output_modalities: string[];
  response_streaming_supported?: boolean;
  _response_streaming_supported?: string;
  customizations_supported: string[];
  inference_types_supported: string[];
  lifecycle_status: string;
}

// google.protobuf.Value comes from protobufjs's bundled well-known types,
// whose field names are camelCase whatever `keepCase` says.
// Decoded values also carry `kind`, the oneof's member name.
type RawValue = (
  | { nullValue: "NULL_VALUE" }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: RawStruct }
  | { listValue: { values: RawValue[] } }
) & { kind?: string };

interface RawStruct {
  fields: Record<string, RawValue>;
}

type UnaryCallback<T> = (error: grpc.ServiceError | null, response?: T) => void;

/** The service client proto-loader builds, as this module uses it. */
export interface RawTextGenerationClient extends grpc.Client {
  Generate(
    request: object,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: UnaryCallback<RawGenerateResponse>,
  ): grpc.ClientUnaryCall;
  GenerateStream(
    request: object,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
  ): grpc.ClientReadableStream<RawStreamEvent>;
  ListModels(
    request: object,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: UnaryCallback<{ models: RawModelSummary[] }>,
  ): grpc.ClientUnaryCall;
  GetModel(
    request: object,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: UnaryCallback<{ model: RawModelSummary | null }>,
  ): grpc.ClientUnaryCall;
  CountTokens(
    request: object,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: UnaryCallback<{ input_tokens: number }>,
  ): grpc.ClientUnaryCall;
}

interface RawHealthClient extends grpc.Client {
  Check(
    request: { service: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: UnaryCallback<{ status: string }>,
  ): grpc.ClientUnaryCall;
}

// ---------------------------------------------------------------------------
// Loading the contract

/**
 * Loads bedrock.gateway.v1 from `protoDir` with LOADER_OPTIONS. The contract
 * imports google/api/annotations.proto (its HTTP/JSON routes), found in
 * `googleapisDir`.
 */
export function loadGatewayPackage(
  protoDir: string = DEFAULT_PROTO_DIR,
  googleapisDir: string = DEFAULT_GOOGLEAPIS_DIR,
): grpc.GrpcObject {
  const definition = protoLoader.loadSync("bedrock/gateway/v1/gateway.proto", {
    ...LOADER_OPTIONS,
    includeDirs: [protoDir, googleapisDir],
  });
  return grpc.loadPackageDefinition(definition);
}

/** Loads grpc.health.v1 from the grpc-health-check package's proto. */
export function loadHealthPackage(): grpc.GrpcObject {
  const definition = protoLoader.loadSync("health/v1/health.proto", {
    ...LOADER_OPTIONS,
    includeDirs: [HEALTH_PROTO_DIR],
  });
  return grpc.loadPackageDefinition(definition);
}

function serviceConstructor(pkg: grpc.GrpcObject, name: string): grpc.ServiceClientConstructor {
  let node: unknown = pkg;
  for (const part of name.split(".")) {
    node = (node as Record<string, unknown> | undefined)?.[part];
  }
  if (typeof node !== "function") {
    throw new Error(`service ${name} is not in the loaded protos`);
  }
  return node as grpc.ServiceClientConstructor;
}

/**
 * Decodes `grpc-status-details-bin` (a google.rpc.Status) and the
 * google.rpc error details in it, with protobufjs over error_details.proto.
 */
export class StatusDetailsDecoder {
  private readonly root: protobuf.Root;
  private readonly status: protobuf.Type;

  constructor(googleapisDir: string = DEFAULT_GOOGLEAPIS_DIR) {
    const root = new protobuf.Root();
    root.loadSync(
      ["google/protobuf/any.proto", path.join(googleapisDir, "google", "rpc", "error_details.proto")],
      { keepCase: true },
    );
    // google/rpc/status.proto is three fields; declared here rather than vendored.
    const status = new protobuf.Type("Status")
      .add(new protobuf.Field("code", 1, "int32"))
      .add(new protobuf.Field("message", 2, "string"))
      .add(new protobuf.Field("details", 3, "google.protobuf.Any", "repeated"));
    (root.lookup("google.rpc") as protobuf.Namespace).add(status);
    root.resolveAll();
    this.root = root;
    this.status = status;
  }

  /** Turns a failed call's error into a GatewayError. */
  toGatewayError(error: unknown): GatewayError {
    if (!isServiceError(error)) {
      return new GatewayError({ code: grpc.status.UNKNOWN, details: String(error) });
    }
    const init: ConstructorParameters<typeof GatewayError>[0] = {
      code: error.code,
      details: error.details ?? "",
      metadata: error.metadata,
    };
    const fieldViolations: FieldViolation[] = [];
    const trailer = error.metadata?.get("grpc-status-details-bin")[0];
    if (trailer instanceof Buffer) {
      const status = this.status.toObject(this.status.decode(trailer), { longs: String, defaults: true }) as {
        details: { type_url: string; value: Uint8Array }[];
      };
      for (const any of status.details) {
        const typeName = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
        const type = this.root.lookup(typeName);
        if (!(type instanceof protobuf.Type)) continue;
        const detail = type.toObject(type.decode(any.value), { longs: String, defaults: true });
        switch (typeName) {
          case "google.rpc.BadRequest":
            for (const v of detail.field_violations as { field: string; description: string }[]) {
              fieldViolations.push({ field: v.field, description: v.description });
            }
            break;
          case "google.rpc.ErrorInfo":
            init.errorInfo = {
              reason: detail.reason as string,
              domain: detail.domain as string,
              metadata: { ...(detail.metadata as Record<string, string>) },
            };
            break;
          case "google.rpc.RetryInfo":
            init.retryDelayMs = durationMs(detail.retry_delay as RawDuration | null);
            break;
          case "google.rpc.ResourceInfo":
            init.resourceInfo = {
              resourceType: detail.resource_type as string,
              resourceName: detail.resource_name as string,
              owner: detail.owner as string,
              description: detail.description as string,
            };
            break;
        }
      }
    }
    init.fieldViolations = fieldViolations;
    return new GatewayError(init);
  }
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as Partial<grpc.ServiceError>).code === "number";
}

// ---------------------------------------------------------------------------
// Conversions

function durationMs(duration: RawDuration | null | undefined): number | null {
  if (!duration) return null;
  return Number(duration.seconds) * 1000 + duration.nanos / 1e6;
}

function usage(raw: RawUsage | null): Usage {
  return {
    inputTokens: raw?.input_tokens ?? 0,
    outputTokens: raw?.output_tokens ?? 0,
    totalTokens: raw?.total_tokens ?? 0,
    cacheReadInputTokens: raw?.cache_read_input_tokens ?? 0,
    cacheWriteInputTokens: raw?.cache_write_input_tokens ?? 0,
  };
}

function model(raw: RawModelSummary): ModelSummary {
  return {
    modelId: raw.model_id,
    modelArn: raw.model_arn,
    modelName: raw.model_name,
    providerName: raw.provider_name,
    inputModalities: raw.input_modalities,
    outputModalities: raw.output_modalities,
    responseStreamingSupported:
      raw._response_streaming_supported === "response_streaming_supported"
        ? Boolean(raw.response_streaming_supported)
        : null,
    customizationsSupported: raw.customizations_supported,
    inferenceTypesSupported: raw.inference_types_supported,
    lifecycleStatus: raw.lifecycle_status,
  };
}

/**
 * A JSON-like value as a google.protobuf.Value, in proto-loader's object form.
 * Its field names are camelCase even with `keepCase: true`: proto-loader takes
 * the well-known types from protobufjs's bundled definitions, not from
 * struct.proto, and those are written in camelCase.
 */
export function toValue(value: unknown): RawValue {
  if (value === null) return { nullValue: "NULL_VALUE" };
  switch (typeof value) {
    case "number":
      return { numberValue: value };
    case "string":
      return { stringValue: value };
    case "boolean":
      return { boolValue: value };
    case "object":
      return Array.isArray(value)
        ? { listValue: { values: value.map(toValue) } }
        : { structValue: toStruct(value as Record<string, unknown>) };
    default:
      throw new TypeError(`cannot put a ${typeof value} into a google.protobuf.Struct`);
  }
}

/** A JSON-like object as a google.protobuf.Struct (proto-loader's object form). */
export function toStruct(object: Record<string, unknown>): RawStruct {
  const fields: Record<string, RawValue> = {};
  for (const [key, value] of Object.entries(object)) {
    if (value !== undefined) fields[key] = toValue(value);
  }
  return { fields };
}

/** A google.protobuf.Value (proto-loader's decoded form) as a JSON-like value. */
export function fromValue(value: RawValue | null | undefined): unknown {
  if (!value) return null;
  const v = value as Partial<{
    nullValue: string;
    numberValue: number;
    stringValue: string;
    boolValue: boolean;
    structValue: RawStruct;
    listValue: { values: RawValue[] };
  }>;
  switch (value.kind ?? Object.keys(value).find((k) => k !== "kind")) {
    case "numberValue":
      return v.numberValue;
    case "stringValue":
      return v.stringValue;
    case "boolValue":
      return v.boolValue;
    case "structValue":
      return fromStruct(v.structValue);
    case "listValue":
      return (v.listValue?.values ?? []).map(fromValue);
    default:
      return null;
  }
}

/** A google.protobuf.Struct (proto-loader's decoded form) as a plain object. */
export function fromStruct(struct: RawStruct | null | undefined): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = fromValue(value);
  return out;
}

const ROLES: Record<Role, string> = { user: "ROLE_USER", assistant: "ROLE_ASSISTANT" };
const APIS: Record<Api, string> = { converse: "BEDROCK_API_CONVERSE", invoke_model: "BEDROCK_API_INVOKE_MODEL" };
const IMAGE_FORMATS: Record<ImageFormat, string> = {
  png: "IMAGE_FORMAT_PNG",
  jpeg: "IMAGE_FORMAT_JPEG",
  gif: "IMAGE_FORMAT_GIF",
  webp: "IMAGE_FORMAT_WEBP",
};
const DOCUMENT_FORMATS: Record<DocumentFormat, string> = {
  pdf: "DOCUMENT_FORMAT_PDF",
  csv: "DOCUMENT_FORMAT_CSV",
  doc: "DOCUMENT_FORMAT_DOC",
  docx: "DOCUMENT_FORMAT_DOCX",
  xls: "DOCUMENT_FORMAT_XLS",
  xlsx: "DOCUMENT_FORMAT_XLSX",
  html: "DOCUMENT_FORMAT_HTML",
  txt: "DOCUMENT_FORMAT_TXT",
  md: "DOCUMENT_FORMAT_MD",
};
const TOOL_CHOICE_MODES: Record<ToolChoiceMode, string> = {
  auto: "TOOL_CHOICE_MODE_AUTO",
  any: "TOOL_CHOICE_MODE_ANY",
  tool: "TOOL_CHOICE_MODE_TOOL",
};
const TOOL_RESULT_STATUSES: Record<ToolResultStatus, string> = {
  success: "TOOL_RESULT_STATUS_SUCCESS",
  error: "TOOL_RESULT_STATUS_ERROR",
};
const CACHE_TTLS: Record<CacheTtl, string> = { "5m": "CACHE_TTL_5_MINUTES", "1h": "CACHE_TTL_1_HOUR" };
const GUARDRAIL_TRACES: Record<GuardrailTrace, string> = {
  disabled: "GUARDRAIL_TRACE_DISABLED",
  enabled: "GUARDRAIL_TRACE_ENABLED",
  enabled_full: "GUARDRAIL_TRACE_ENABLED_FULL",
};
const GUARDRAIL_STREAM_MODES: Record<GuardrailStreamMode, string> = {
  sync: "GUARDRAIL_STREAM_MODE_SYNC",
  async: "GUARDRAIL_STREAM_MODE_ASYNC",
};
const SERVICE_TIERS: Record<ServiceTier, string> = {
  default: "SERVICE_TIER_DEFAULT",
  priority: "SERVICE_TIER_PRIORITY",
  flex: "SERVICE_TIER_FLEX",
  reserved: "SERVICE_TIER_RESERVED",
};
const LATENCIES: Record<Latency, string> = { standard: "LATENCY_STANDARD", optimized: "LATENCY_OPTIMIZED" };
// File suffixes that name a format other than their own spelling.
const SUFFIX_ALIASES: Record<string, string> = { jpg: "jpeg", htm: "html", markdown: "md", text: "txt" };

function choose<K extends string>(table: Record<K, string>, value: K, what: string): string {
  if (!Object.prototype.hasOwnProperty.call(table, value)) {
    throw new TypeError(`${what} must be one of ${Object.keys(table).join(", ")}, got ${String(value)}`);
  }
  return table[value];
}

/** "IMAGE_FORMAT_PNG" -> "png". */
function shortName(name: string, prefix: string): string {
  return (name.startsWith(prefix) ? name.slice(prefix.length) : name).toLowerCase();
}

function formatOf<K extends string>(file: string, table: Record<K, string>, kind: string): K {
  const suffix = path.extname(file).slice(1).toLowerCase();
  const name = SUFFIX_ALIASES[suffix] ?? suffix;
  if (!Object.prototype.hasOwnProperty.call(table, name)) {
    throw new TypeError(
      `cannot tell the ${kind} format of ${path.basename(file)}; pass a format (one of ${Object.keys(table).join(", ")})`,
    );
  }
  return name as K;
}

/** Reads an image file; the format defaults to the file's suffix (.png, .jpg/.jpeg, .gif, .webp). */
export function imageFromPath(file: string, format?: ImageFormat): Image {
  return { format: format ?? formatOf(file, IMAGE_FORMATS, "image"), data: fs.readFileSync(file) };
}

/**
 * Reads a document file. The format defaults to the file's suffix; the name
 * to the file's stem with every run of characters a document name may not
 * hold replaced by one "-" (cut to 200 characters).
 */
export function documentFromPath(file: string, options: { name?: string; format?: DocumentFormat } = {}): Document {
  const stem = path.basename(file, path.extname(file));
  const name =
    options.name ??
    (stem.replace(/[^A-Za-z0-9 ()[\]-]+/g, "-").split(/\s+/).filter(Boolean).join(" ").slice(0, 200) || "document");
  return {
    format: options.format ?? formatOf(file, DOCUMENT_FORMATS, "document"),
    name,
    data: fs.readFileSync(file),
  };
}

function rawImage(image: Image): RawImage {
  return { format: choose(IMAGE_FORMATS, image.format, "image format"), data: image.data };
}

function rawDocument(document: Document): RawDocument {
  return {
    format: choose(DOCUMENT_FORMATS, document.format, "document format"),
    name: document.name,
    data: document.data,
  };
}

function rawToolResultContent(piece: ToolResultContent): object {
  if ("text" in piece) return { text: piece.text };
  if ("json" in piece) return { json: toStruct(piece.json) };
  if ("image" in piece) return { image: rawImage(piece.image) };
  if ("document" in piece) return { document: rawDocument(piece.document) };
  throw new TypeError("a tool result piece is { text }, { json }, { image } or { document }");
}

function rawBlock(block: ContentBlock): object {
  if (typeof block !== "object" || block === null) {
    throw new TypeError("a content block is { text }, { image }, { document }, { toolUse } or { toolResult }");
  }
  if ("text" in block) return { text: block.text };
  if ("image" in block) return { image: rawImage(block.image) };
  if ("document" in block) return { document: rawDocument(block.document) };
  if ("toolUse" in block) {
    const u = block.toolUse;
    return { tool_use: { id: u.id, name: u.name, input: toStruct(u.input ?? {}) } };
  }
  if ("toolResult" in block) {
    const r = block.toolResult;
    const result: Record<string, unknown> = {
      tool_use_id: r.toolUseId,
      content: r.content.map(rawToolResultContent),
    };
    if (r.status !== undefined) result.status = choose(TOOL_RESULT_STATUSES, r.status, "tool result status");
    return { tool_result: result };
  }
  if ("reasoning" in block) {
    const r = block.reasoning;
    return { reasoning: { text: r.text ?? "", signature: r.signature ?? "", redacted: r.redacted ?? new Uint8Array() } };
  }
  if ("cachePoint" in block) return { cache_point: rawCachePoint(block.cachePoint) };
  throw new TypeError(
    "a content block is { text }, { image }, { document }, { toolUse }, { toolResult }, { reasoning } or { cachePoint }",
  );
}

function rawCachePoint(point: CachePoint): object {
  if (typeof point !== "object" || point === null) throw new TypeError("a cache point is { ttl? }");
  return point.ttl === undefined ? {} : { ttl: choose(CACHE_TTLS, point.ttl, "cache TTL") };
}

/** A served tier or latency mode's short name; null when unspecified. */
function served<T extends string>(name: string | undefined, prefix: string): T | null {
  if (!name || name.endsWith("_UNSPECIFIED")) return null;
  return shortName(name, prefix) as T;
}

function fromImage(raw: RawImage): Image {
  return { format: shortName(raw.format, "IMAGE_FORMAT_") as ImageFormat, data: raw.data };
}

function fromDocument(raw: RawDocument): Document {
  return { format: shortName(raw.format, "DOCUMENT_FORMAT_") as DocumentFormat, name: raw.name, data: raw.data };
}

function fromToolUse(raw: RawToolUse): ToolUse {
  return { id: raw.id, name: raw.name, input: fromStruct(raw.input) };
}

/** A response block as a ContentBlock; null for a kind this client does not know. */
function fromBlock(raw: RawContentBlock): ContentBlock | null {
  switch (raw.block) {
    case "text":
      return { text: raw.text ?? "" };
    case "tool_use":
      return raw.tool_use ? { toolUse: fromToolUse(raw.tool_use) } : null;
    case "image":
      return raw.image ? { image: fromImage(raw.image) } : null;
    case "document":
      return raw.document ? { document: fromDocument(raw.document) } : null;
    case "reasoning": {
      const r = raw.reasoning;
      if (!r) return null;
      return { reasoning: { text: r.text ?? "", signature: r.signature ?? "", redacted: r.redacted ?? new Uint8Array() } };
    }
    case "cache_point": {
      const ttl = raw.cache_point?.ttl;
      if (ttl === "CACHE_TTL_5_MINUTES") return { cachePoint: { ttl: "5m" } };
      if (ttl === "CACHE_TTL_1_HOUR") return { cachePoint: { ttl: "1h" } };
      return { cachePoint: {} };
    }
    case "tool_result": {
      const r = raw.tool_result;
      if (!r) return null;
      const content: ToolResultContent[] = [];
      for (const piece of r.content) {
        if (piece.content === "text") content.push({ text: piece.text ?? "" });
        else if (piece.content === "json") content.push({ json: fromStruct(piece.json) });
        else if (piece.content === "image" && piece.image) content.push({ image: fromImage(piece.image) });
        else if (piece.content === "document" && piece.document) content.push({ document: fromDocument(piece.document) });
      }
      const result: ToolResult = { toolUseId: r.tool_use_id, content };
      if (r.status && r.status !== "TOOL_RESULT_STATUS_UNSPECIFIED") {
        result.status = shortName(r.status, "TOOL_RESULT_STATUS_") as ToolResultStatus;
      }
      return { toolResult: result };
    }
    default:
      return null;
  }
}

function completion(c: RawGenerationComplete): Completion {
  return {
    stopReason: c.stop_reason,
    rawStopReason: c.raw_stop_reason,
    usage: usage(c.usage),
    invokedModelId: c.invoked_model_id,
    resolvedModelId: c.resolved_model_id,
    requestId: c.request_id,
    backend: c.backend,
    backendLatencyMs: durationMs(c.backend_latency),
    timeToFirstTokenMs: durationMs(c.time_to_first_token),
    toolUses: (c.tool_uses ?? []).map(fromToolUse),
    serviceTier: served<ServiceTier>(c.service_tier, "SERVICE_TIER_"),
    latency: served<Latency>(c.latency, "LATENCY_"),
    guardrailTrace: c.guardrail_trace ? fromStruct(c.guardrail_trace) : null,
  };
}

function rawMessage(m: Message): object {
  const role = ROLES[m.role];
  if (role === undefined) throw new TypeError(`message role must be "user" or "assistant", got ${m.role}`);
  if (m.content !== undefined && typeof m.content !== "string") {
    throw new TypeError("Message.content is the turn's text; pass content blocks as `blocks`");
  }
  if (m.blocks !== undefined && !Array.isArray(m.blocks)) throw new TypeError("Message.blocks must be an array");
  return { role, content: m.content ?? "", blocks: (m.blocks ?? []).map(rawBlock) };
}

function rawToolConfig(config: ToolConfig): object {
  const raw: Record<string, unknown> = {
    tools: config.tools.map((t) => ({
      name: t.name,
      description: t.description ?? "",
      input_schema: toStruct(t.inputSchema),
    })),
  };
  if (config.toolChoice !== undefined) {
    raw.tool_choice = {
      mode: choose(TOOL_CHOICE_MODES, config.toolChoice.mode, "tool choice mode"),
      tool_name: config.toolChoice.toolName ?? "",
    };
  }
  if (config.cachePoint !== undefined) raw.cache_point = rawCachePoint(config.cachePoint);
  return raw;
}

function rawGuardrail(g: GuardrailConfig, stream: boolean): object {
  const raw: Record<string, unknown> = { identifier: g.identifier, version: g.version };
  if (g.trace !== undefined) raw.trace = choose(GUARDRAIL_TRACES, g.trace, "guardrail trace");
  if (g.streamMode !== undefined) {
    if (!stream) throw new TypeError("GuardrailConfig.streamMode is for stream() only");
    raw.stream_mode = choose(GUARDRAIL_STREAM_MODES, g.streamMode, "guardrail stream mode");
  }
  return raw;
}

function countTokensRequest(modelId: string, o: CountTokensOptions): object {
  const request: Record<string, unknown> = {
    model_id: modelId,
    prompt: o.prompt ?? "",
    system: o.system ?? "",
    messages: (o.messages ?? []).map(rawMessage),
  };
  if (o.toolConfig !== undefined) request.tool_config = rawToolConfig(o.toolConfig);
  return request;
}

function generationRequest(modelId: string, o: GenerateOptions, stream = false): object {
  const parameters: Record<string, unknown> = {};
  if (o.temperature !== undefined) parameters.temperature = o.temperature;
  if (o.topP !== undefined) parameters.top_p = o.topP;
  if (o.maxTokens !== undefined) parameters.max_tokens = o.maxTokens;
  if (o.stopSequences !== undefined) parameters.stop_sequences = o.stopSequences;
  const request: Record<string, unknown> = {
    model_id: modelId,
    prompt: o.prompt ?? "",
    system: o.system ?? "",
    messages: (o.messages ?? []).map(rawMessage),
  };
  if (Object.keys(parameters).length > 0) request.parameters = parameters;
  if (o.additionalModelRequestFields !== undefined) {
    request.additional_model_request_fields = toStruct(o.additionalModelRequestFields);
  }
  if (o.api !== undefined) {
    const api = APIS[o.api];
    if (api === undefined) throw new TypeError(`api must be "converse" or "invoke_model", got ${o.api}`);
    request.api = api;
  }
  if (o.toolConfig !== undefined) request.tool_config = rawToolConfig(o.toolConfig);
  if (o.outputSchema !== undefined) {
    request.output_schema = {
      json_schema: toStruct(o.outputSchema.jsonSchema),
      name: o.outputSchema.name ?? "",
      description: o.outputSchema.description ?? "",
    };
  }
  if (o.systemCachePoint !== undefined) request.system_cache_point = rawCachePoint(o.systemCachePoint);
  if (o.reasoning !== undefined) request.reasoning = { budget_tokens: o.reasoning.budgetTokens };
  if (o.guardrail !== undefined) request.guardrail = rawGuardrail(o.guardrail, stream);
  if (o.serviceTier !== undefined) request.service_tier = choose(SERVICE_TIERS, o.serviceTier, "service tier");
  if (o.latency !== undefined) request.latency = choose(LATENCIES, o.latency, "latency");
  if (o.requestMetadata !== undefined) request.request_metadata = { ...o.requestMetadata };
  return request;
}

function callArgs(o: CallOptions): [grpc.Metadata, grpc.CallOptions] {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(o.metadata ?? {})) metadata.add(key, value);
  const options: grpc.CallOptions = {};
  if (o.timeoutMs !== undefined) options.deadline = Date.now() + o.timeoutMs;
  return [metadata, options];
}

// ---------------------------------------------------------------------------
// Streams and the client

/**
 * A streamed completion: `for await (const chunk of stream)` yields text
 * chunks. After the last one, `completion` holds the final event (stop
 * reason, usage, tool calls). `events()` yields every event instead: text
 * deltas, tool-call starts and input fragments, then the completion. A stream
 * is read once, one way or the other. `cancel()` stops the call (and
 * generation upstream) at once, and iteration then just ends; leaving the
 * loop early cancels too. Any other failure is thrown from the loop as a
 * GatewayError; `text` keeps what arrived before it.
 */
export class GenerationStream implements AsyncIterable<string> {
  private readonly chunks: string[] = [];
  /** The answer's blocks by index, as the deltas build them. */
  private readonly blocks = new Map<
    number,
    { text: string[] } | { reasoning: { text: string[]; signature: string[]; redacted: Uint8Array[] } } | { toolUse: ToolUseStart }
  >();
  private completionEvent: Completion | null = null;
  private wasCancelled = false;
  private finished = false;
  private iterated = false;

  constructor(
    /** The underlying grpc-js call. */
    readonly call: grpc.ClientReadableStream<RawStreamEvent>,
    private readonly decoder: StatusDetailsDecoder,
  ) {
    // The async iterator below sees every error; this listener only keeps an
    // error on a stream nobody reads (or one already left) from being thrown
    // as an unhandled 'error' event.
    call.on("error", () => {});
  }

  /** The final event, once the stream has been read to its end; else null. */
  get completion(): Completion | null {
    return this.completionEvent;
  }

  /** Every chunk received so far, concatenated. */
  get text(): string {
    return this.chunks.join("");
  }

  get cancelled(): boolean {
    return this.wasCancelled;
  }

  /**
   * The answer so far as content blocks, in index order: `{ reasoning }` with
   * its text joined and its signature (which may have come alone, in its own
   * delta) or redacted bytes, `{ text }` and `{ toolUse }` (parsed from the
   * completion once it has come). Replay it as
   * `{ role: "assistant", blocks: stream.content }`.
   */
  get content(): ContentBlock[] {
    const calls = new Map((this.completionEvent?.toolUses ?? []).map((t) => [t.id, t]));
    const out: ContentBlock[] = [];
    for (const index of [...this.blocks.keys()].sort((a, b) => a - b)) {
      const block = this.blocks.get(index)!;
      if ("toolUse" in block) {
        const start = block.toolUse;
        out.push({ toolUse: calls.get(start.id) ?? { id: start.id, name: start.name, input: {} } });
      } else if ("reasoning" in block) {
        const r = block.reasoning;
        out.push({
          reasoning: {
            text: r.text.join(""),
            signature: r.signature.join(""),
            redacted: Buffer.concat(r.redacted.map((b) => Buffer.from(b))),
          },
        });
      } else if (block.text.join("") !== "") {
        out.push({ text: block.text.join("") });
      }
    }
    return out;
  }

  /** The reasoning blocks of `content`. */
  get reasoning(): Reasoning[] {
    return this.content.flatMap((b) => ("reasoning" in b ? [b.reasoning] : []));
  }

  /** Cancels the call; the gateway stops generating at once. */
  cancel(): void {
    this.wasCancelled = true;
    this.call.cancel();
  }

  /**
   * Every event, in order: `{ delta }`, `{ reasoningDelta }`, `{ toolUseStart }`,
   * `{ toolUseDelta }`, and `{ complete }` last.
   */
  async *events(): AsyncGenerator<StreamEvent, void, undefined> {
    if (this.iterated) throw new Error("a GenerationStream can be iterated once");
    this.iterated = true;
    try {
      for await (const event of this.call as AsyncIterable<RawStreamEvent>) {
        if (event.event === "delta" && event.delta) {
          const index = event.delta.index ?? 0;
          this.chunks.push(event.delta.text);
          const block = this.blocks.get(index);
          if (block && "text" in block) block.text.push(event.delta.text);
          else this.blocks.set(index, { text: [event.delta.text] });
          yield { delta: { text: event.delta.text, index } };
        } else if (event.event === "reasoning_delta" && event.reasoning_delta) {
          const r = event.reasoning_delta;
          const delta: ReasoningDelta = {
            index: r.index ?? 0,
            text: r.text ?? "",
            signature: r.signature ?? "",
            redacted: r.redacted ?? new Uint8Array(),
          };
          let block = this.blocks.get(delta.index);
          if (!block || !("reasoning" in block)) {
            block = { reasoning: { text: [], signature: [], redacted: [] } };
            this.blocks.set(delta.index, block);
          }
          block.reasoning.text.push(delta.text);
          block.reasoning.signature.push(delta.signature);
          block.reasoning.redacted.push(delta.redacted);
          yield { reasoningDelta: delta };
        } else if (event.event === "tool_use_start" && event.tool_use_start) {
          const s = event.tool_use_start;
          const start = { index: s.index, id: s.id, name: s.name };
          this.blocks.set(s.index, { toolUse: start });
          yield { toolUseStart: start };
        } else if (event.event === "tool_use_delta" && event.tool_use_delta) {
          const d = event.tool_use_delta;
          yield { toolUseDelta: { index: d.index, inputJson: d.input_json } };
        } else if (event.event === "complete" && event.complete) {
          this.completionEvent = completion(event.complete);
          yield { complete: this.completionEvent };
        }
      }
      this.finished = true;
    } catch (error) {
      this.finished = true;
      if (this.wasCancelled && isServiceError(error) && error.code === grpc.status.CANCELLED) return;
      throw this.decoder.toGatewayError(error);
    } finally {
      if (!this.finished) this.cancel(); // the caller left the loop early
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for await (const event of this.events()) {
      if ("delta" in event) yield event.delta.text;
    }
  }
}

export interface ClientOptions {
  /** Channel credentials; insecure by default. */
  credentials?: grpc.ChannelCredentials;
  /** grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
  /** Directory holding bedrock/gateway/v1/gateway.proto. */
  protoDir?: string;
  /** Directory holding google/rpc/error_details.proto. */
  googleapisDir?: string;
}

/** A client of one bedrock-gateway. Call `close()` when done. */
export class GatewayClient {
  /** The proto-loader service client, for calls this wrapper does not cover. */
  readonly raw: RawTextGenerationClient;
  private readonly healthClient: RawHealthClient;
  private readonly decoder: StatusDetailsDecoder;

  constructor(target: string = DEFAULT_TARGET, options: ClientOptions = {}) {
    const credentials = options.credentials ?? grpc.credentials.createInsecure();
    const Service = serviceConstructor(loadGatewayPackage(options.protoDir), SERVICE_NAME);
    this.raw = new Service(target, credentials, options.channelOptions) as unknown as RawTextGenerationClient;
    const Health = serviceConstructor(loadHealthPackage(), "grpc.health.v1.Health");
    this.healthClient = new Health(target, credentials, {
      ...options.channelOptions,
      channelOverride: this.raw.getChannel(),
    }) as unknown as RawHealthClient;
    this.decoder = new StatusDetailsDecoder(options.googleapisDir);
  }

  close(): void {
    this.raw.close();
  }

  private unary<Req extends object, Res>(
    call: (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: UnaryCallback<Res>) => grpc.ClientUnaryCall,
    request: Req,
    options: CallOptions,
  ): Promise<Res> {
    const [metadata, callOptions] = callArgs(options);
    return new Promise((resolve, reject) => {
      call(request, metadata, callOptions, (error, response) => {
        if (error) reject(this.decoder.toGatewayError(error));
        else resolve(response as Res);
      });
    });
  }

  /** Generate: one whole completion. */
  async generate(modelId: string, options: GenerateOptions = {}): Promise<GenerateResult> {
    const r = await this.unary(this.raw.Generate.bind(this.raw), generationRequest(modelId, options), options);
    const content = (r.content ?? []).map(fromBlock).filter((b): b is ContentBlock => b !== null);
    return {
      text: r.text,
      stopReason: r.stop_reason,
      rawStopReason: r.raw_stop_reason,
      usage: usage(r.usage),
      invokedModelId: r.invoked_model_id,
      resolvedModelId: r.resolved_model_id,
      requestId: r.request_id,
      backend: r.backend,
      backendLatencyMs: durationMs(r.backend_latency),
      content,
      toolUses: content.flatMap((b) => ("toolUse" in b ? [b.toolUse] : [])),
      reasoning: content.flatMap((b) => ("reasoning" in b ? [b.reasoning] : [])),
      serviceTier: served<ServiceTier>(r.service_tier, "SERVICE_TIER_"),
      latency: served<Latency>(r.latency, "LATENCY_"),
      guardrailTrace: r.guardrail_trace ? fromStruct(r.guardrail_trace) : null,
    };
  }

  /**
   * CountTokens: the input tokens a `generate` with the same input would be
   * charged (its inputTokens + cacheReadInputTokens + cacheWriteInputTokens).
   * A model without token counting rejects with FAILED_PRECONDITION.
   */
  async countTokens(modelId: string, options: CountTokensOptions = {}): Promise<number> {
    const r = await this.unary(this.raw.CountTokens.bind(this.raw), countTokensRequest(modelId, options), options);
    return r.input_tokens;
  }

  /**
   * GenerateStream: text chunks as they are generated (`events()` for tool
   * calls too). Errors surface while iterating.
   */
  stream(modelId: string, options: GenerateOptions = {}): GenerationStream {
    const [metadata, callOptions] = callArgs(options);
    const call = this.raw.GenerateStream(generationRequest(modelId, options, true), metadata, callOptions);
    return new GenerationStream(call, this.decoder);
  }

  /** ListModels, filtered; unset filters match all. */
  async listModels(filter: ListModelsFilter = {}): Promise<ModelSummary[]> {
    const request: Record<string, unknown> = {
      provider: filter.provider ?? "",
      output_modality: filter.outputModality ?? "",
      inference_type: filter.inferenceType ?? "",
      customization_type: filter.customizationType ?? "",
    };
    if (filter.streaming !== undefined) request.response_streaming_supported = filter.streaming;
    const r = await this.unary(this.raw.ListModels.bind(this.raw), request, filter);
    return r.models.map(model);
  }

  /** GetModel: one model's details; NOT_FOUND rejects with a GatewayError. */
  async getModel(modelId: string, options: CallOptions = {}): Promise<ModelSummary> {
    const r = await this.unary(this.raw.GetModel.bind(this.raw), { model_id: modelId }, options);
    if (!r.model) throw new GatewayError({ code: grpc.status.INTERNAL, details: "GetModel answered no model" });
    return model(r.model);
  }

  /**
   * grpc.health.v1 Check: "SERVING", "NOT_SERVING", ... `""` is liveness,
   * SERVICE_NAME readiness.
   */
  async health(service = "", options: CallOptions = {}): Promise<string> {
    const r = await this.unary(this.healthClient.Check.bind(this.healthClient), { service }, options);
    return r.status;
  }
}
