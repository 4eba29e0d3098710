/** The Node client against the real gateway binary (simulated backend). */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";

import {
  GatewayClient,
  GatewayError,
  SERVICE_NAME,
  loadHealthPackage,
  type GenerateOptions,
} from "../src/index";
import { startGateway, STOP_TIMEOUT_MS, type Gateway } from "./gateway";

const TITAN = "amazon.titan-text-express-v1";
const POEM = "Write a poem about sky";

function simulate(behaviour: Record<string, unknown>): Record<string, unknown> {
  return { gateway_simulation: behaviour };
}

/** Awaits `promise` and returns the GatewayError it rejects with. */
async function gatewayError(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof GatewayError, `expected a GatewayError, got ${String(error)}`);
    return error;
  }
  assert.fail("the call succeeded");
}

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of iterable) out.push(chunk);
  return out;
}

describe("bedrock-gateway-client (Node) against the real gateway", () => {
  let gateway: Gateway;
  let client: GatewayClient;

  before(async () => {
    gateway = await startGateway();
    client = new GatewayClient(gateway.addr);
  });

  after(() => {
    client?.close();
    gateway?.kill(); // only if the last test did not stop it
  });

  // --- Generate -------------------------------------------------------------

  it("Generate returns a whole completion", async () => {
    const r = await client.generate(TITAN, { prompt: POEM, temperature: 0, topP: 1, maxTokens: 50 });
    assert.ok(r.text.trim());
    assert.equal(r.stopReason, "STOP_REASON_MAX_TOKENS");
    assert.ok(r.rawStopReason);
    assert.equal(r.usage.outputTokens, 50);
    assert.ok(r.usage.inputTokens > 0);
    assert.equal(r.usage.totalTokens, r.usage.inputTokens + r.usage.outputTokens);
    assert.equal(r.invokedModelId, TITAN);
    assert.ok(r.requestId);
    assert.equal(r.backend, "simulated");
    assert.notEqual(r.backendLatencyMs, null);
  });

  it("Generate is deterministic at temperature 0", async () => {
    const a = await client.generate(TITAN, { prompt: POEM, temperature: 0, maxTokens: 40 });
    const b = await client.generate(TITAN, { prompt: POEM, temperature: 0, maxTokens: 40 });
    assert.equal(a.text, b.text);
    assert.notEqual(a.requestId, b.requestId);
  });

  it("Generate takes messages, a system prompt and stop sequences", async () => {
    const model = "anthropic.claude-3-haiku-20240307-v1:0";
    const args: GenerateOptions = {
      system: "You are a poet.",
      messages: [
        { role: "user", content: "Hello" },
        { role: "assistant", content: "Hello! What shall I write?" },
        { role: "user", content: POEM },
      ],
      temperature: 0,
      maxTokens: 80,
    };
    const free = await client.generate(model, args);
    assert.equal(free.backend, "simulated");
    const words = free.text.split(/\s+/).filter(Boolean);
    const stop = words[Math.floor(words.length / 2)]!;
    const cut = await client.generate(model, { ...args, stopSequences: [stop] });
    assert.equal(cut.stopReason, "STOP_REASON_STOP_SEQUENCE");
    assert.equal(cut.text, free.text.slice(0, free.text.indexOf(stop)));
  });

  it("an unknown role is refused before any call", async () => {
    await assert.rejects(
      client.generate(TITAN, { messages: [{ role: "system" as "user", content: "hi" }] }),
      TypeError,
    );
  });

  // --- GenerateStream -------------------------------------------------------

  it("stream chunks concatenate to Generate's text at temperature 0", async () => {
    const args: GenerateOptions = { prompt: POEM, temperature: 0, topP: 1, maxTokens: 60 };
    const whole = await client.generate(TITAN, args);
    const stream = client.stream(TITAN, args);
    const chunks = await collect(stream);
    assert.ok(chunks.length > 1, `${chunks.length} chunks`);
    assert.equal(chunks.join(""), whole.text);
    assert.equal(stream.text, whole.text);
    const c = stream.completion;
    assert.ok(c);
    assert.equal(c.stopReason, "STOP_REASON_MAX_TOKENS");
    assert.equal(c.stopReason, whole.stopReason);
    assert.deepEqual(c.usage, whole.usage);
    assert.equal(c.invokedModelId, TITAN);
    assert.equal(c.resolvedModelId, TITAN);
    assert.equal(whole.resolvedModelId, TITAN);
    assert.equal(c.backend, "simulated");
    assert.ok(c.requestId);
    assert.notEqual(c.timeToFirstTokenMs, null);
  });

  it("a stream stops at a stop sequence", async () => {
    // Titan takes only "User:" or a run of '|' as a stop sequence (on every
    // backend, as on Bedrock); Claude takes any.
    const stream = client.stream("anthropic.claude-3-haiku-20240307-v1:0", { prompt: POEM, stopSequences: ["\n\n"] });
    const text = (await collect(stream)).join("");
    assert.ok(text);
    assert.ok(!text.includes("\n\n"));
    assert.equal(stream.completion?.stopReason, "STOP_REASON_STOP_SEQUENCE");
  });

  it("cancelling a stream mid-way ends it at once", async () => {
    // 2000 tokens at 50 ms would take 100 s; the last test also checks the
    // server stops quickly, i.e. it did not keep this call.
    const stream = client.stream(TITAN, {
      prompt: POEM,
      maxTokens: 2000,
      additionalModelRequestFields: simulate({ token_delay_ms: 50 }),
    });
    const started = Date.now();
    const received: string[] = [];
    for await (const chunk of stream) {
      received.push(chunk);
      if (received.length === 3) stream.cancel();
    }
    const elapsed = Date.now() - started;
    assert.equal(received.length, 3);
    assert.ok(stream.cancelled);
    assert.equal(stream.completion, null);
    assert.ok(elapsed < 5000, `cancel took ${elapsed} ms`);
    assert.equal(await client.health(SERVICE_NAME), "SERVING");
    assert.equal((await client.generate(TITAN, { prompt: "hi", maxTokens: 5 })).usage.outputTokens, 5);
  });

  it("leaving the loop early cancels the stream", async () => {
    const stream = client.stream(TITAN, {
      prompt: POEM,
      maxTokens: 2000,
      additionalModelRequestFields: simulate({ token_delay_ms: 50 }),
    });
    for await (const chunk of stream) {
      assert.ok(chunk);
      break;
    }
    assert.ok(stream.cancelled);
  });

  it("a stream failing after text keeps the text", async () => {
    const stream = client.stream(TITAN, {
      prompt: POEM,
      additionalModelRequestFields: simulate({ fail_with: "ServiceUnavailableException", fail_after_tokens: 5 }),
    });
    const received: string[] = [];
    const error = await gatewayError(
      (async () => {
        for await (const chunk of stream) received.push(chunk);
      })(),
    );
    assert.equal(received.length, 5);
    assert.equal(stream.text, received.join(""));
    assert.equal(stream.completion, null);
    assert.equal(error.code, grpc.status.UNAVAILABLE);
    assert.equal(error.errorInfo?.reason, "ServiceUnavailableException");
    assert.ok((error.retryDelayMs ?? 0) > 0);
  });

  it("an invalid stream request fails while iterating", async () => {
    const error = await gatewayError(collect(client.stream(TITAN, { prompt: POEM, maxTokens: 0 })));
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(
      error.fieldViolations.map((v) => v.field),
      ["parameters.max_tokens"],
    );
  });

  // --- Errors ---------------------------------------------------------------

  it("INVALID_ARGUMENT names each field (grpc-status-details-bin)", async () => {
    const error = await gatewayError(client.generate(TITAN, { prompt: "hi", temperature: 1.5 }));
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(error.codeName, "INVALID_ARGUMENT");
    assert.equal(error.fieldViolations.length, 1);
    assert.equal(error.fieldViolations[0]!.field, "parameters.temperature");
    assert.match(error.fieldViolations[0]!.description, /1\.5/);
    assert.ok(error.metadata.get("grpc-status-details-bin").length > 0);
  });

  it("every broken rule is reported at once", async () => {
    const error = await gatewayError(
      client.generate("", {
        prompt: "hi",
        messages: [{ role: "user", content: "hi" }],
        temperature: 1.5,
        topP: 2,
      }),
    );
    const fields = new Set(error.fieldViolations.map((v) => v.field));
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    for (const f of ["model_id", "parameters.temperature", "parameters.top_p"]) {
      assert.ok(fields.has(f), `${f} in ${[...fields]}`);
    }
    assert.ok(fields.size >= 4, `${[...fields]}`);
  });

  it("throttling is RESOURCE_EXHAUSTED with RetryInfo and ErrorInfo", async () => {
    const error = await gatewayError(
      client.generate(TITAN, {
        prompt: "hi",
        additionalModelRequestFields: simulate({ fail_with: "ThrottlingException" }),
      }),
    );
    assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.ok((error.retryDelayMs ?? 0) > 0);
    assert.equal(error.errorInfo?.reason, "ThrottlingException");
    assert.equal(error.errorInfo?.domain, "bedrock.amazonaws.com");
    assert.ok(error.errorInfo?.metadata.request_id);
    assert.deepEqual(error.fieldViolations, []);
  });

  it("a deadline gives DEADLINE_EXCEEDED", async () => {
    const error = await gatewayError(
      client.generate(TITAN, {
        prompt: "hi",
        timeoutMs: 300,
        additionalModelRequestFields: simulate({ latency_ms: 3000 }),
      }),
    );
    assert.equal(error.code, grpc.status.DEADLINE_EXCEEDED);
  });

  // --- ListModels and GetModel ----------------------------------------------

  it("ListModels without filters", async () => {
    const models = await client.listModels();
    assert.ok(models.length > 50);
    const ids = models.map((m) => m.modelId);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.includes(TITAN));
  });

  it("ListModels filters", async () => {
    const models = await client.listModels({ provider: "Amazon", outputModality: "TEXT", inferenceType: "ON_DEMAND" });
    assert.ok(models.some((m) => m.modelId === TITAN));
    for (const m of models) {
      assert.equal(m.providerName, "Amazon");
      assert.ok(m.outputModalities.includes("TEXT"));
      assert.ok(m.inferenceTypesSupported.includes("ON_DEMAND"));
    }
    const streaming = await client.listModels({ streaming: true });
    assert.ok(streaming.length > 0 && streaming.every((m) => m.responseStreamingSupported === true));
    // Models that do not say whether they stream match `false`, never `true`.
    const notStreaming = await client.listModels({ streaming: false });
    assert.ok(notStreaming.length > 0 && notStreaming.every((m) => m.responseStreamingSupported !== true));
    assert.equal(streaming.length + notStreaming.length, (await client.listModels()).length);
    assert.deepEqual(await client.listModels({ provider: "No Such Provider" }), []);
  });

  it("GetModel", async () => {
    const m = await client.getModel(TITAN);
    assert.equal(m.modelId, TITAN);
    assert.equal(m.modelName, "Titan Text G1 - Express");
    assert.equal(m.providerName, "Amazon");
    assert.ok(m.modelArn.endsWith(TITAN));
    assert.equal(m.responseStreamingSupported, true);
    assert.ok(m.lifecycleStatus);
  });

  it("GetModel of an unknown model is NOT_FOUND", async () => {
    const error = await gatewayError(client.getModel("no.such-model-v1"));
    assert.equal(error.code, grpc.status.NOT_FOUND);
    assert.match(error.details, /no\.such-model-v1/);
    assert.equal(error.resourceInfo?.resourceName, "no.such-model-v1");
  });

  // --- Health (grpc.health.v1) and the raw client ---------------------------

  it("grpc.health.v1 Check says SERVING for liveness and readiness", async () => {
    const Health = (loadHealthPackage().grpc as grpc.GrpcObject).health as grpc.GrpcObject;
    const HealthClient = (Health.v1 as grpc.GrpcObject).Health as grpc.ServiceClientConstructor;
    const health = new HealthClient(gateway.addr, grpc.credentials.createInsecure());
    try {
      for (const service of ["", SERVICE_NAME]) {
        const status = await new Promise<string>((resolve, reject) => {
          health.Check({ service }, { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, r?: { status: string }) =>
            err ? reject(err) : resolve(r!.status),
          );
        });
        assert.equal(status, "SERVING", `service "${service}"`);
      }
      // Watch sends the current status first.
      const watch = health.Watch({ service: SERVICE_NAME }) as grpc.ClientReadableStream<{ status: string }>;
      watch.on("error", () => {});
      const first = await new Promise<{ status: string }>((resolve) => watch.once("data", resolve));
      watch.cancel();
      assert.equal(first.status, "SERVING");
    } finally {
      health.close();
    }
  });

  it("health through the client", async () => {
    assert.equal(await client.health(), "SERVING");
    assert.equal(await client.health(SERVICE_NAME), "SERVING");
    const error = await gatewayError(client.health("no.such.Service"));
    assert.equal(error.code, grpc.status.NOT_FOUND);
  });

  it("the raw proto-loader client works and carries the headers", async () => {
    let headers: grpc.Metadata | undefined;
    const response = await new Promise<{ stop_reason: string; request_id: string }>((resolve, reject) => {
      const call = client.raw.Generate(
        { model_id: TITAN, prompt: POEM, parameters: { temperature: 0, max_tokens: 10 } },
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (err, r) => (err ? reject(err) : resolve(r!)),
      );
      call.on("metadata", (md: grpc.Metadata) => {
        headers = md;
      });
    });
    assert.equal(response.stop_reason, "STOP_REASON_MAX_TOKENS");
    assert.ok(headers);
    assert.deepEqual(headers.get("x-bedrock-gateway-backend"), ["simulated"]);
    assert.deepEqual(headers.get("x-amzn-requestid"), [response.request_id]);
  });

  // --- Shutdown (last) --------------------------------------------------------

  it("the gateway stops on SIGTERM with exit code 0, holding no call", async () => {
    client.close();
    const { code, elapsedMs } = await gateway.stop();
    assert.equal(code, 0);
    assert.ok(elapsedMs < STOP_TIMEOUT_MS, `stopped in ${elapsedMs} ms`);
    assert.ok(gateway.logs.some((r) => r.message === "stopped"), "logged 'stopped'");
  });
});
