/**
 * The gateway through @connectrpc/connect-node, with code generated from the
 * proto by @bufbuild/protoc-gen-es (`npm run generate`): the Connect
 * protocol (JSON and binary, HTTP/1.1 and HTTP/2) and gRPC-Web, on the same
 * port as gRPC, against the real binary (simulated backend).
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

import { TextGenerationService } from "../gen/bedrock/gateway/v1/gateway_pb.js";
import { startGateway, type Gateway } from "./gateway";

const TITAN = "amazon.titan-text-express-v1";
const POEM = "Write a poem about sky";

type Service = Client<typeof TextGenerationService>;

const transports: [string, (baseUrl: string) => Transport][] = [
  ["Connect JSON over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
  [
    "Connect binary over HTTP/2",
    (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
  ],
  ["gRPC-Web over HTTP/1.1", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
];

describe("Connect and gRPC-Web clients", () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startGateway();
  });
  after(async () => {
    const { code } = await gateway.stop();
    assert.equal(code, 0);
  });

  for (const [name, transport] of transports) {
    describe(name, () => {
      let client: Service;
      before(() => {
        client = createClient(TextGenerationService, transport(`http://${gateway.addr}`));
      });

      it("streams the same text Generate answers at temperature 0", async () => {
        const parameters = { temperature: 0, maxTokens: 30 };
        const whole = await client.generate({ modelId: TITAN, prompt: POEM, parameters });
        assert.equal(whole.usage?.outputTokens, 30);
        assert.equal(whole.backend, "simulated");
        let text = "";
        let completes = 0;
        for await (const message of client.generateStream({ modelId: TITAN, prompt: POEM, parameters })) {
          if (message.event.case === "delta") text += message.event.value.text;
          if (message.event.case === "complete") completes += 1;
        }
        assert.ok(text.length > 0);
        assert.equal(text, whole.text);
        assert.equal(completes, 1);
      });

      it("refuses an invalid request with INVALID_ARGUMENT and a BadRequest", async () => {
        const refused = await client
          .generate({ modelId: TITAN, prompt: POEM, parameters: { temperature: 3 } })
          .then(
            () => assert.fail("an invalid request was accepted"),
            (error: unknown) => ConnectError.from(error),
          );
        assert.equal(refused.code, Code.InvalidArgument);
        assert.match(refused.rawMessage, /parameters\.temperature/);
        assert.ok(
          refused.details.some((d) => "type" in d && d.type === "google.rpc.BadRequest"),
          JSON.stringify(refused.details),
        );
      });

      it("lists and gets models", async () => {
        const listed = await client.listModels({ provider: "Amazon" });
        assert.ok(listed.models.some((m) => m.modelId === TITAN));
        const model = await client.getModel({ modelId: TITAN });
        assert.equal(model.model?.modelId, TITAN);
      });
    });
  }

  it("counts each call under its protocol in the logs", () => {
    const protocols = new Set(gateway.logs.map((r) => r.protocol).filter((p) => p !== undefined));
    assert.ok(protocols.has("connect"), [...protocols].join(","));
    assert.ok(protocols.has("grpc-web"), [...protocols].join(","));
  });
});
