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
/** The repository's copy of google/rpc/error_details.proto. */
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

/** One conversation turn. */
export interface Message {
  role: Role;
  content: string;
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
}

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
}

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
}

interface RawStreamEvent {
  event?: "delta" | "complete";
  delta?: { text: string } | null;
  complete?: RawGenerationComplete | null;
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
type RawValue =
  | { nullValue: "NULL_VALUE" }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: RawStruct }
  | { listValue: { values: RawValue[] } };

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

/** Loads bedrock.gateway.v1 from `protoDir` with LOADER_OPTIONS. */
export function loadGatewayPackage(protoDir: string = DEFAULT_PROTO_DIR): grpc.GrpcObject {
  const definition = protoLoader.loadSync("bedrock/gateway/v1/gateway.proto", {
    ...LOADER_OPTIONS,
    includeDirs: [protoDir],
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

const ROLES: Record<Role, string> = { user: "ROLE_USER", assistant: "ROLE_ASSISTANT" };
const APIS: Record<Api, string> = { converse: "BEDROCK_API_CONVERSE", invoke_model: "BEDROCK_API_INVOKE_MODEL" };

function generationRequest(modelId: string, o: GenerateOptions): object {
  const parameters: Record<string, unknown> = {};
  if (o.temperature !== undefined) parameters.temperature = o.temperature;
  if (o.topP !== undefined) parameters.top_p = o.topP;
  if (o.maxTokens !== undefined) parameters.max_tokens = o.maxTokens;
  if (o.stopSequences !== undefined) parameters.stop_sequences = o.stopSequences;
  const request: Record<string, unknown> = {
    model_id: modelId,
    prompt: o.prompt ?? "",
    system: o.system ?? "",
    messages: (o.messages ?? []).map((m) => {
      const role = ROLES[m.role];
      if (role === undefined) throw new TypeError(`message role must be "user" or "assistant", got ${m.role}`);
      return { role, content: m.content };
    }),
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
 * chunks. After the last one, `completion` holds the final event. `cancel()`
 * stops the call (and generation upstream) at once, and iteration then just
 * ends; leaving the loop early cancels too. Any other failure is thrown from
 * the loop as a GatewayError; `text` keeps what arrived before it.
 */
export class GenerationStream implements AsyncIterable<string> {
  private readonly chunks: string[] = [];
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

  /** Cancels the call; the gateway stops generating at once. */
  cancel(): void {
    this.wasCancelled = true;
    this.call.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    if (this.iterated) throw new Error("a GenerationStream can be iterated once");
    this.iterated = true;
    try {
      for await (const event of this.call as AsyncIterable<RawStreamEvent>) {
        if (event.event === "delta" && event.delta) {
          this.chunks.push(event.delta.text);
          yield event.delta.text;
        } else if (event.event === "complete" && event.complete) {
          const c = event.complete;
          this.completionEvent = {
            stopReason: c.stop_reason,
            rawStopReason: c.raw_stop_reason,
            usage: usage(c.usage),
            invokedModelId: c.invoked_model_id,
            resolvedModelId: c.resolved_model_id,
            requestId: c.request_id,
            backend: c.backend,
            backendLatencyMs: durationMs(c.backend_latency),
            timeToFirstTokenMs: durationMs(c.time_to_first_token),
          };
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
    };
  }

  /** GenerateStream: text chunks as they are generated. Errors surface while iterating. */
  stream(modelId: string, options: GenerateOptions = {}): GenerationStream {
    const [metadata, callOptions] = callArgs(options);
    const call = this.raw.GenerateStream(generationRequest(modelId, options), metadata, callOptions);
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
