/**
 * Content blocks, tools and images through the Node client, against the real
 * gateway binary (simulated backend). The expected answers are the simulated
 * backend's documented behaviour: ack lines for images and documents, a tool
 * call when a tool is forced, one sentence per tool result.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { deflateSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";

import {
  GatewayClient,
  GatewayError,
  documentFromPath,
  imageFromPath,
  type Completion,
  type ContentBlock,
  type Message,
  type StreamEvent,
  type Tool,
  type ToolConfig,
  type ToolUseDelta,
  type ToolUseStart,
} from "../src/index";
import { startGateway, type Gateway } from "./gateway";

const HAIKU = "anthropic.claude-3-haiku-20240307-v1:0";
const TOOL_USE_ID = /^tooluse_[A-Za-z0-9]{22}$/;

const GET_WEATHER: Tool = {
  name: "get_weather",
  description: "The current weather in a city.",
  inputSchema: {
    type: "object",
    properties: { city: { type: "string", description: "The city's name." } },
    required: ["city"],
  },
};
const QUESTION: Message = { role: "user", content: "What is the weather like in Paris right now?" };
const FORCED: ToolConfig = { tools: [GET_WEATHER], toolChoice: { mode: "tool", toolName: "get_weather" } };

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A valid 1x1 RGB PNG, built here: signature, IHDR, IDAT, IEND. */
function tinyPng(): Buffer {
  const chunk = (kind: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(kind, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(1, 0); // width
  header.writeUInt32BE(1, 4); // height
  header.set([8, 2, 0, 0, 0], 8); // 8-bit truecolour, no interlace
  const pixels = deflateSync(Buffer.from([0, 0x1e, 0x90, 0xff])); // filter byte, one RGB pixel
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", pixels),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** The simulated backend's line for an image or document: `what` is e.g. "image png". */
function ack(what: string, data: Uint8Array): string {
  const digest = createHash("sha256").update(data).digest("hex").slice(0, 8);
  return `[${what} ${data.length} bytes sha256:${digest}]`;
}

function weatherResult(toolUseId: string): Message {
  return { role: "user", blocks: [{ toolResult: { toolUseId, content: [{ json: { temperature_c: 21 } }] } }] };
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

async function collectEvents(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

describe("content blocks, tools and images (Node) against the real gateway", () => {
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

  // --- Tools ----------------------------------------------------------------

  it("a tool round trip", async () => {
    const first = await client.generate(HAIKU, { messages: [QUESTION], toolConfig: FORCED });
    assert.equal(first.stopReason, "STOP_REASON_TOOL_USE");
    assert.equal(first.rawStopReason, "tool_use");
    assert.equal(first.toolUses.length, 1, JSON.stringify(first.content));
    const call = first.toolUses[0]!;
    assert.equal(call.name, "get_weather");
    assert.match(call.id, TOOL_USE_ID);
    assert.ok(typeof call.input.city === "string" && call.input.city, JSON.stringify(call.input));
    // A forced call comes without text.
    assert.deepEqual(first.content, [{ toolUse: call }]);
    assert.equal(first.text, "");

    const second = await client.generate(HAIKU, {
      messages: [QUESTION, { role: "assistant", blocks: first.content }, weatherResult(call.id)],
      toolConfig: FORCED,
    });
    assert.equal(second.stopReason, "STOP_REASON_END_TURN");
    assert.ok(second.text.includes("get_weather") && second.text.includes("21"), second.text);
    assert.deepEqual(second.content, [{ text: second.text }]);
    assert.deepEqual(second.toolUses, []);
  });

  it("a tool round trip, streamed", async () => {
    const stream = client.stream(HAIKU, { messages: [QUESTION], toolConfig: FORCED });
    const events = await collectEvents(stream.events());

    const last = events[events.length - 1]!;
    assert.ok("complete" in last, JSON.stringify(last));
    const completion: Completion = last.complete;
    assert.equal(stream.completion, completion);
    assert.equal(completion.stopReason, "STOP_REASON_TOOL_USE");
    assert.equal(completion.toolUses.length, 1);
    const call = completion.toolUses[0]!;
    assert.equal(call.name, "get_weather");
    assert.match(call.id, TOOL_USE_ID);
    assert.ok(typeof call.input.city === "string" && call.input.city);

    const starts: ToolUseStart[] = events.flatMap((e) => ("toolUseStart" in e ? [e.toolUseStart] : []));
    const deltas: ToolUseDelta[] = events.flatMap((e) => ("toolUseDelta" in e ? [e.toolUseDelta] : []));
    assert.deepEqual(starts, [{ index: 0, id: call.id, name: "get_weather" }]);
    assert.ok(deltas.length >= 2, `${deltas.length} fragments`);
    assert.ok(deltas.every((d) => d.index === 0));
    assert.ok(events.findIndex((e) => "toolUseStart" in e) < events.findIndex((e) => "toolUseDelta" in e));
    assert.deepEqual(JSON.parse(deltas.map((d) => d.inputJson).join("")), call.input);
    assert.ok(!events.some((e) => "delta" in e));
    assert.equal(stream.text, "");
    // The same call as Generate makes (only the ID is new).
    const whole = await client.generate(HAIKU, { messages: [QUESTION], toolConfig: FORCED });
    assert.deepEqual(whole.toolUses[0]?.input, call.input);

    const answer = client.stream(HAIKU, {
      messages: [QUESTION, { role: "assistant", blocks: [{ toolUse: call }] }, weatherResult(call.id)],
      toolConfig: { tools: [GET_WEATHER] },
    });
    let text = "";
    for await (const chunk of answer) text += chunk; // plain iteration: text chunks only
    assert.ok(text.includes("get_weather") && text.includes("21"), text);
    assert.equal(answer.completion?.stopReason, "STOP_REASON_END_TURN");
    assert.deepEqual(answer.completion?.toolUses, []);
  });

  it("a tool named in the text is called after a text block", async () => {
    const question: Message = { role: "user", content: "Use get_weather to tell me the weather in Paris." };
    const config: ToolConfig = { tools: [GET_WEATHER] }; // AUTO
    const result = await client.generate(HAIKU, { messages: [question], toolConfig: config });
    assert.equal(result.stopReason, "STOP_REASON_TOOL_USE");
    assert.equal(result.content.length, 2, JSON.stringify(result.content));
    const [text, call] = result.content as [ContentBlock, ContentBlock];
    assert.ok("text" in text && text.text.includes("get_weather"));
    assert.ok("toolUse" in call && call.toolUse.name === "get_weather");
    assert.equal(result.text, text.text);

    const stream = client.stream(HAIKU, { messages: [question], toolConfig: config });
    const events = await collectEvents(stream.events());
    const textIndexes = new Set(events.flatMap((e) => ("delta" in e ? [e.delta.index] : [])));
    assert.deepEqual([...textIndexes], [0]);
    assert.deepEqual(
      events.flatMap((e) => ("toolUseStart" in e ? [e.toolUseStart.index] : [])),
      [1],
    );
    assert.equal(stream.text, text.text);
  });

  // --- Images and documents -------------------------------------------------

  it("an image is acknowledged", async () => {
    const png = tinyPng();
    const result = await client.generate(HAIKU, {
      messages: [{ role: "user", blocks: [{ image: { format: "png", data: png } }, { text: "What is in this picture?" }] }],
    });
    assert.ok(result.text.startsWith(ack("image png", png) + "\n"), result.text);
    assert.equal(result.stopReason, "STOP_REASON_END_TURN");
  });

  it("an image in another format than declared is refused", async () => {
    const error = await gatewayError(
      client.generate(HAIKU, {
        messages: [
          { role: "user", blocks: [{ image: { format: "jpeg", data: tinyPng() } }, { text: "What is in this picture?" }] },
        ],
      }),
    );
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    const fields = error.fieldViolations.map((v) => v.field);
    assert.ok(fields.includes("messages[0].blocks[0].image.data"), fields.join(", "));
  });

  it("a document is acknowledged", async () => {
    const data = Buffer.from("city,temperature_c\nParis,21\n");
    const result = await client.generate(HAIKU, {
      messages: [
        { role: "user", blocks: [{ document: { format: "csv", name: "weather", data } }, { text: "Summarise the table." }] },
      ],
    });
    assert.ok(result.text.startsWith(ack('document csv "weather"', data) + "\n"), result.text);
  });

  // --- The client's own checks (no call) ------------------------------------

  it("files are read with their format", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bedrock-gateway-client-"));
    try {
      const png = tinyPng();
      fs.writeFileSync(path.join(dir, "cat.PNG"), png);
      fs.writeFileSync(path.join(dir, "photo.jpg"), Buffer.from([0xff, 0xd8, 0xff]));
      fs.writeFileSync(path.join(dir, "q3_report.final.md"), "# Q3");
      const image = imageFromPath(path.join(dir, "cat.PNG"));
      assert.equal(image.format, "png");
      assert.deepEqual(Buffer.from(image.data), png);
      assert.equal(imageFromPath(path.join(dir, "photo.jpg")).format, "jpeg");
      const doc = documentFromPath(path.join(dir, "q3_report.final.md"));
      assert.deepEqual([doc.format, doc.name, Buffer.from(doc.data).toString()], ["md", "q3-report-final", "# Q3"]);
      assert.equal(documentFromPath(path.join(dir, "q3_report.final.md"), { name: "Q3" }).name, "Q3");
      assert.throws(() => imageFromPath(path.join(dir, "q3_report.final.md")), /format/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("bad blocks and formats are refused before any call", async () => {
    await assert.rejects(
      client.generate(HAIKU, {
        messages: [{ role: "user", blocks: [{ image: { format: "bmp" as "png", data: Buffer.from("BM") } }] }],
      }),
      /image format/,
    );
    await assert.rejects(
      client.generate(HAIKU, { messages: [{ role: "user", content: [{ text: "hi" }] as unknown as string }] }),
      /blocks/,
    );
    await assert.rejects(
      client.generate(HAIKU, { messages: [{ role: "user", blocks: [42 as unknown as ContentBlock] }] }),
      /content block/,
    );
  });
});
