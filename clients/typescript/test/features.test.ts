/**
 * Reasoning, prompt caching, guardrails, service tiers, latency, request
 * metadata and CountTokens through the Node client, against the real gateway
 * binary (simulated backend). The expected answers are the simulated
 * backend's documented behaviour: reasoning blocks with a signature (redacted
 * ones when the user text holds `[[redacted]]`), a prompt cache that a first
 * call writes and an identical second call reads, a guardrail that intervenes
 * on `[[guardrail]]`, the tier and latency echoed, and CountTokens equal to
 * Generate's input.
 */

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";

import {
  GatewayClient,
  GatewayError,
  type Message,
  type ReasoningDelta,
  type StreamEvent,
  type Tool,
  type ToolConfig,
  type Usage,
} from "../src/index";
import { startGateway, type Gateway } from "./gateway";

/** Reasoning, caching (5 minutes and 1 hour), guardrails and CountTokens, through its US profile. */
const SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
/** Priority and flex tiers and latency-optimized inference. */
const NOVA_PRO = "amazon.nova-pro-v1:0";
/** A model without token counting. */
const TITAN = "amazon.titan-text-express-v1";
const GUARDRAIL_TEXT = "Sorry, the model cannot answer this question.";

/** A system prompt well over the shortest cacheable prefix, unique per call. */
function longSystem(): string {
  return `Session ${randomUUID()}. ` + "You answer questions about the weather, briefly. ".repeat(250);
}

function inputOf(u: Usage): number {
  return u.inputTokens + u.cacheReadInputTokens + u.cacheWriteInputTokens;
}

function assertTotal(u: Usage): void {
  assert.equal(u.totalTokens, inputOf(u) + u.outputTokens, JSON.stringify(u));
}

async function gatewayError(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof GatewayError, `expected a GatewayError, got ${String(error)}`);
    return error;
  }
  assert.fail("the call succeeded");
}

async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

describe("reasoning, caching, guardrails, tiers and CountTokens (Node) against the real gateway", () => {
  let gateway: Gateway;
  let client: GatewayClient;

  before(async () => {
    gateway = await startGateway();
    client = new GatewayClient(gateway.addr);
  });

  after(async () => {
    client?.close();
    if (gateway?.running) {
      const { code } = await gateway.stop();
      assert.equal(code, 0);
    }
  });

  // --- Prompt caching ---------------------------------------------------------

  it("a second identical call reads the cache, in Generate and in the stream", async () => {
    const options = { system: longSystem(), systemCachePoint: {}, prompt: "Is it sunny in Paris?", maxTokens: 50 };
    const first = await client.generate(SONNET, options);
    assert.ok(first.usage.cacheWriteInputTokens > 1000, JSON.stringify(first.usage));
    assert.equal(first.usage.cacheReadInputTokens, 0);
    assertTotal(first.usage);
    const second = await client.generate(SONNET, options);
    assert.equal(second.usage.cacheReadInputTokens, first.usage.cacheWriteInputTokens);
    assert.equal(second.usage.cacheWriteInputTokens, 0);
    assert.equal(second.usage.inputTokens, first.usage.inputTokens, "the counts are disjoint");
    assertTotal(second.usage);

    const stream = client.stream(SONNET, options);
    let text = "";
    for await (const chunk of stream) text += chunk;
    assert.ok(text);
    const usage = stream.completion!.usage;
    assert.equal(usage.cacheReadInputTokens, first.usage.cacheWriteInputTokens);
    assert.equal(usage.inputTokens, first.usage.inputTokens);
    assertTotal(usage);
  });

  it("cache points after the tools and in a turn, with a one-hour TTL", async () => {
    const tool: Tool = {
      name: "get_weather",
      description: `The current weather in a city (${randomUUID()}). ` + "Use it for any city. ".repeat(300),
      inputSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    };
    const toolConfig: ToolConfig = { tools: [tool], cachePoint: { ttl: "1h" } };
    const messages: Message[] = [{ role: "user", blocks: [{ text: "Is it sunny in Paris?" }, { cachePoint: { ttl: "1h" } }] }];
    const first = await client.generate(SONNET, { messages, toolConfig, maxTokens: 50 });
    assert.ok(first.usage.cacheWriteInputTokens > 1000, JSON.stringify(first.usage));
    const second = await client.generate(SONNET, { messages, toolConfig, maxTokens: 50 });
    assert.ok(second.usage.cacheReadInputTokens > 1000, JSON.stringify(second.usage));
    assertTotal(second.usage);
  });

  it("increasing TTLs are refused before the call", async () => {
    const e = await gatewayError(
      client.generate(SONNET, {
        system: "Be brief.",
        systemCachePoint: { ttl: "5m" },
        messages: [{ role: "user", blocks: [{ text: "Hi" }, { cachePoint: { ttl: "1h" } }] }],
      }),
    );
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(e.fieldViolations.length > 0, e.message);
  });

  // --- Reasoning ----------------------------------------------------------------

  it("reasoning comes first with its signature and replays", async () => {
    const question: Message = { role: "user", content: "Which is larger, 9.11 or 9.9?" };
    const options = { reasoning: { budgetTokens: 1024 }, maxTokens: 2048 };
    const first = await client.generate(SONNET, { ...options, messages: [question] });
    assert.ok("reasoning" in first.content[0]!, JSON.stringify(first.content));
    const reasoning = first.reasoning[0]!;
    assert.ok(reasoning.text && reasoning.signature, JSON.stringify(reasoning));
    assert.equal(reasoning.redacted?.length, 0);
    assert.ok(first.text);

    const second = await client.generate(SONNET, {
      ...options,
      messages: [question, { role: "assistant", blocks: first.content }, { role: "user", content: "Why?" }],
    });
    assert.ok(second.text && second.reasoning.length > 0);
  });

  it("redacted reasoning is kept and replays", async () => {
    const question: Message = { role: "user", content: "Think it over [[redacted]] and answer." };
    const options = { reasoning: { budgetTokens: 1024 }, maxTokens: 2048 };
    const first = await client.generate(SONNET, { ...options, messages: [question] });
    assert.ok(first.reasoning.some((r) => (r.redacted?.length ?? 0) > 0), JSON.stringify(first.content));
    const again = await client.generate(SONNET, {
      ...options,
      messages: [question, { role: "assistant", blocks: first.content }, { role: "user", content: "Go on." }],
    });
    assert.ok(again.text);
  });

  it("a streamed signature that arrives alone is kept, and the stream's answer replays", async () => {
    const question: Message = { role: "user", content: "Which is larger, 9.11 or 9.9?" };
    const options = { reasoning: { budgetTokens: 1024 }, maxTokens: 2048 };
    const stream = client.stream(SONNET, { ...options, messages: [question] });
    const events = await collect(stream.events());
    const deltas = events.flatMap((e): ReasoningDelta[] => ("reasoningDelta" in e ? [e.reasoningDelta] : []));
    assert.ok(deltas.length > 0);
    assert.ok(deltas.some((d) => d.signature && !d.text), JSON.stringify(deltas));
    const lastReasoning = events.map((e) => "reasoningDelta" in e).lastIndexOf(true);
    const firstText = events.findIndex((e) => "delta" in e);
    assert.ok(lastReasoning < firstText, "reasoning comes before the text");
    assert.ok("complete" in events[events.length - 1]!);

    const block = stream.content[0]!;
    assert.ok("reasoning" in block, JSON.stringify(stream.content));
    const index = deltas[0]!.index;
    assert.equal(block.reasoning.text, deltas.filter((d) => d.index === index).map((d) => d.text).join(""));
    assert.ok(block.reasoning.signature);
    assert.deepEqual(stream.content[1], { text: stream.text });

    const again = await client.generate(SONNET, {
      ...options,
      messages: [question, { role: "assistant", blocks: stream.content }, { role: "user", content: "Why?" }],
    });
    assert.ok(again.text);
  });

  it("a budget below 1024 is refused naming the field", async () => {
    const e = await gatewayError(client.generate(SONNET, { prompt: "Hi", reasoning: { budgetTokens: 500 }, maxTokens: 2048 }));
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(e.fieldViolations.some((v) => v.field === "reasoning.budget_tokens"), JSON.stringify(e.fieldViolations));
  });

  // --- CountTokens ----------------------------------------------------------------

  it("countTokens equals Generate's input tokens plus cache reads and writes", async () => {
    const counted = await client.countTokens(SONNET, { prompt: "Write a poem about sky" });
    const plain = await client.generate(SONNET, { prompt: "Write a poem about sky", maxTokens: 20 });
    assert.equal(counted, inputOf(plain.usage));

    const system = longSystem();
    const cachedCount = await client.countTokens(SONNET, { system, prompt: "Is it sunny?" });
    for (let i = 0; i < 2; i++) {
      const r = await client.generate(SONNET, { system, systemCachePoint: {}, prompt: "Is it sunny?", maxTokens: 20 });
      assert.equal(cachedCount, inputOf(r.usage), JSON.stringify(r.usage));
    }

    const toolConfig: ToolConfig = {
      tools: [{ name: "get_weather", description: "The weather in a city.", inputSchema: { type: "object" } }],
    };
    const messages: Message[] = [
      { role: "user", content: "Hello" },
      { role: "assistant", content: "Hi!" },
      { role: "user", content: "Weather in Paris?" },
    ];
    const withTools = await client.generate(SONNET, { messages, toolConfig, maxTokens: 20 });
    assert.equal(await client.countTokens(SONNET, { messages, toolConfig }), inputOf(withTools.usage));
  });

  it("countTokens on a model without it is FAILED_PRECONDITION naming the model", async () => {
    const e = await gatewayError(client.countTokens(TITAN, { prompt: "Hi" }));
    assert.equal(e.code, grpc.status.FAILED_PRECONDITION);
    assert.ok(e.details.includes(TITAN), e.details);
  });

  // --- Guardrails ------------------------------------------------------------------

  it("a guardrail intervenes with its trace", async () => {
    const r = await client.generate(SONNET, {
      prompt: "Tell me about [[guardrail]] things.",
      guardrail: { identifier: "examplegr1", version: "1", trace: "enabled" },
    });
    assert.equal(r.stopReason, "STOP_REASON_GUARDRAIL_INTERVENED");
    assert.equal(r.text, GUARDRAIL_TEXT);
    assert.ok(r.guardrailTrace && Object.keys(r.guardrailTrace).length > 0, JSON.stringify(r));

    const calm = await client.generate(SONNET, {
      prompt: "Tell me about clouds.",
      guardrail: { identifier: "examplegr1", version: "1" },
    });
    assert.notEqual(calm.stopReason, "STOP_REASON_GUARDRAIL_INTERVENED");
    assert.equal(calm.guardrailTrace, null);
  });

  it("a guardrail intervenes on a stream", async () => {
    const stream = client.stream(SONNET, {
      prompt: "Tell me about [[guardrail]] things.",
      guardrail: { identifier: "examplegr1", version: "DRAFT", trace: "enabled", streamMode: "async" },
    });
    let text = "";
    for await (const chunk of stream) text += chunk;
    assert.equal(stream.completion!.stopReason, "STOP_REASON_GUARDRAIL_INTERVENED");
    assert.ok(text.includes(GUARDRAIL_TEXT), text);
    assert.ok(stream.completion!.guardrailTrace);
  });

  it("a stream mode on generate is refused before the call", async () => {
    await assert.rejects(
      client.generate(SONNET, { prompt: "Hi", guardrail: { identifier: "g", version: "1", streamMode: "sync" } }),
      TypeError,
    );
  });

  // --- Service tiers, latency and request metadata -------------------------------------

  it("the tier and latency mode are served and reported", async () => {
    const r = await client.generate(NOVA_PRO, {
      prompt: "Write a poem about sky",
      serviceTier: "flex",
      latency: "optimized",
      requestMetadata: { team: "search", run: "7" },
      maxTokens: 20,
    });
    assert.equal(r.serviceTier, "flex");
    assert.equal(r.latency, "optimized");
    const stream = client.stream(NOVA_PRO, { prompt: "Write a poem about sky", serviceTier: "priority", maxTokens: 20 });
    for await (const _ of stream) void _;
    assert.equal(stream.completion!.serviceTier, "priority");
    const plain = await client.generate(NOVA_PRO, { prompt: "Hi", maxTokens: 5 });
    assert.equal(plain.guardrailTrace, null);
  });

  it("a tier the model lacks is refused naming the field", async () => {
    const e = await gatewayError(client.generate(SONNET, { prompt: "Hi", serviceTier: "flex" }));
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(e.fieldViolations.some((v) => v.field === "service_tier"), JSON.stringify(e.fieldViolations));
  });

  it("too much request metadata is refused", async () => {
    const requestMetadata = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"]));
    const e = await gatewayError(client.generate(NOVA_PRO, { prompt: "Hi", requestMetadata }));
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(e.fieldViolations.some((v) => v.field.startsWith("request_metadata")), JSON.stringify(e.fieldViolations));
  });

  it("unknown option values are refused before any call", async () => {
    await assert.rejects(client.generate(NOVA_PRO, { prompt: "Hi", serviceTier: "cheap" as never }), TypeError);
    await assert.rejects(client.generate(NOVA_PRO, { prompt: "Hi", latency: "fast" as never }), TypeError);
    await assert.rejects(
      client.generate(SONNET, { messages: [{ role: "user", blocks: [{ text: "x" }, { cachePoint: { ttl: "2h" as never } }] }] }),
      TypeError,
    );
  });
});
