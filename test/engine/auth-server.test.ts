/**
 * The Engine API port of an EL-only node: JWT authentication over real HTTP, the capability
 * and version methods, the eth_ subset, strict parameter validation and engine error codes.
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpEngine, signJwt } from "../../node/api/engine/index.ts";
import { blockToPayload } from "../../node/execution/engine/payload.ts";
import { ENGINE_CAPABILITIES, EngineError, type Hex } from "../../node/execution/engine/types.ts";
import { ExecutionLayer } from "../../node/execution/index.ts";
import { OpenGpuNode } from "../../node/node.ts";
import { silentLogger } from "../../node/utils/logger.ts";
import { devGenesis, type ElOnlyHandle, rawPost, startElOnlyNode } from "./helpers.ts";

const ZERO = `0x${"00".repeat(32)}` as Hex;
const call = (method: string, params: unknown[] = []) => ({ jsonrpc: "2.0", id: 1, method, params });
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

describe("Engine API authentication and validation (EL-only node)", () => {
  let b: ElOnlyHandle;
  let genesisHash: Hex;

  beforeAll(async () => {
    b = await startElOnlyNode(devGenesis());
    genesisHash = (await b.call<{ hash: Hex }>("eth_getBlockByNumber", ["0x0", false])).hash;
  });
  afterAll(async () => {
    await b?.stop();
  });

  /** JSON-RPC over the auth port with a fresh valid token; returns result or error. */
  async function authed(method: string, params: unknown[] = []) {
    const { status, text } = await rawPost(b.authUrl, `Bearer ${signJwt(b.secret)}`, call(method, params));
    expect(status).toBe(200);
    return JSON.parse(text) as { result?: unknown; error?: { code: number; message: string } };
  }

  it("binds to loopback and writes the generated secret file with mode 0600", async () => {
    expect(b.authUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { statSync } = await import("node:fs");
    expect(statSync(b.jwtSecretFile).mode & 0o777).toBe(0o600);
  });

  it("accepts a valid token and rejects missing, bad, stale, future and wrong-alg tokens with 401", async () => {
    const body = call("eth_chainId");
    const ok = await rawPost(b.authUrl, `Bearer ${signJwt(b.secret)}`, body);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).result).toBe("0x539");

    const now = Math.floor(Date.now() / 1000);
    const other = new Uint8Array(32).fill(9);
    const input = `${b64({ alg: "HS512", typ: "JWT" })}.${b64({ iat: now })}`;
    const hs512 = `${input}.${createHmac("sha512", b.secret).update(input).digest("base64url")}`;
    const cases: [string | undefined, string][] = [
      [undefined, "missing token"],
      ["Bearer ", "missing token"],
      [`Basic ${signJwt(b.secret)}`, "missing token"],
      [`Bearer ${signJwt(other)}`, "signature is invalid"],
      [`Bearer ${signJwt(b.secret, {}, now - 120)}`, "stale token"],
      [`Bearer ${signJwt(b.secret, {}, now + 120)}`, "future token"],
      [`Bearer ${hs512}`, "signing method HS512 is invalid"],
      [`Bearer ${b64({ alg: "none" })}.${b64({ iat: now })}.`, "signing method none is invalid"],
      [`Bearer not-a-jwt`, "malformed"],
    ];
    for (const [authorization, reason] of cases) {
      const res = await rawPost(b.authUrl, authorization, body);
      expect(res.status, `${authorization}`).toBe(401);
      expect(res.text).toContain(reason);
    }
    // Not even a malformed body is looked at without a token.
    const res = await fetch(b.authUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    expect(res.status).toBe(401);
  });

  it("HttpEngine reports a wrong secret as an HTTP 401 transport error", async () => {
    const wrong = new HttpEngine({ url: b.authUrl, jwtSecret: new Uint8Array(32).fill(1) });
    const err = await wrong.exchangeCapabilities([]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe(-32603);
    expect((err as EngineError).message).toContain("HTTP 401");
  });

  it("serves exchangeCapabilities, getClientVersionV1 and the eth_ subset", async () => {
    expect(await b.engine.exchangeCapabilities(["engine_newPayloadV4", "engine_getBlobsV1"])).toEqual([
      ...ENGINE_CAPABILITIES,
    ]);
    const versions = await b.engine.getClientVersionV1({
      code: "LS",
      name: "Lodestar",
      version: "v1.0.0",
      commit: "0x01020304",
    });
    expect(versions).toEqual([
      { code: "OG", name: "opengpu", version: expect.any(String), commit: expect.any(String) },
    ]);
    expect(await b.engine.request("eth_chainId", [])).toBe("0x539");
    expect(await b.engine.request("eth_blockNumber", [])).toBe("0x0");
    expect(await b.engine.request("eth_syncing", [])).toBe(false);
    const byNumber = await b.engine.request<{ hash: Hex }>("eth_getBlockByNumber", ["latest", false]);
    expect(byNumber.hash).toBe(genesisHash);
    const byHash = await b.engine.request<{ number: Hex }>("eth_getBlockByHash", [genesisHash, false]);
    expect(byHash.number).toBe("0x0");
    // Only the subset is served here.
    expect((await authed("eth_getBalance", [`0x${"11".repeat(20)}`, "latest"])).error?.code).toBe(-32601);
  });

  it("rejects malformed payload fields with -32602 and a message naming the field", async () => {
    const genesis = b.node.el.chain.genesis;
    const good = { ...blockToPayload(genesis), blockNumber: "0x1" as Hex, parentHash: genesisHash };
    const cases: [unknown[], string][] = [
      [
        [{ ...good, stateRoot: `0x${"11".repeat(31)}` }, [], ZERO, []],
        "stateRoot: hex string has length 62, want 64",
      ],
      [[{ ...good, feeRecipient: "0x1234" }, [], ZERO, []], "feeRecipient: hex string has length 4, want 40"],
      [[{ ...good, logsBloom: "0x00" }, [], ZERO, []], "logsBloom"],
      [[{ ...good, blockNumber: "0x01" }, [], ZERO, []], "blockNumber: hex number with leading zero digits"],
      [[{ ...good, gasLimit: "0x1ffffffffffffffff" }, [], ZERO, []], "gasLimit: hex number > 64 bits"],
      [[{ ...good, extraData: `0x${"00".repeat(33)}` }, [], ZERO, []], "extraData: hex string has 33 bytes"],
      [[{ ...good, transactions: ["0x0"] }, [], ZERO, []], "transactions[0]: hex string of odd length"],
      [[{ ...good, transactions: "0x" }, [], ZERO, []], "transactions: cannot unmarshal string into array"],
      [
        [
          { ...good, withdrawals: [{ index: "0x0", validatorIndex: "0x0", address: "0x00", amount: "0x1" }] },
          [],
          ZERO,
          [],
        ],
        "withdrawals[0].address",
      ],
      [[{ ...good, excessBlobGas: null }, [], ZERO, []], 'missing required field "excessBlobGas"'],
      [[{ ...good, foo: "0x" }, [], ZERO, []], 'unknown field "foo"'],
      [[good, ["0x12"], ZERO, []], "invalid argument 1: [0]: hex string has length 2, want 64"],
      [[good, [], "0x00", []], "invalid argument 2"],
      [[good, [], ZERO, ["0x01"]], "invalid argument 3: [0]: request 0x01 has no data"],
      [[good, [], ZERO, ["0x0101", "0x0001"]], "strictly ascending"],
      [[good, [], ZERO], "missing value for required argument 3"],
    ];
    for (const [params, message] of cases) {
      const response = await authed("engine_newPayloadV4", params);
      expect(response.error?.code, message).toBe(-32602);
      expect(response.error?.message).toContain(message);
    }
    const fcu = await authed("engine_forkchoiceUpdatedV3", [
      { headBlockHash: genesisHash, safeBlockHash: ZERO },
      null,
    ]);
    expect(fcu.error).toMatchObject({ code: -32602 });
    expect(fcu.error?.message).toContain('missing required field "finalizedBlockHash"');
    expect((await authed("engine_getPayloadV4", ["0x0102"])).error?.code).toBe(-32602);
  });

  it("keeps engine error codes", async () => {
    // Unknown payload id.
    expect((await authed("engine_getPayloadV4", ["0x0000000000000001"])).error?.code).toBe(-38001);
    // Unknown finalized block.
    const state = {
      headBlockHash: genesisHash,
      safeBlockHash: ZERO,
      finalizedBlockHash: `0x${"ab".repeat(32)}`,
    };
    expect((await authed("engine_forkchoiceUpdatedV3", [state, null])).error?.code).toBe(-38002);
    // Malformed attributes: the forkchoice state applies, then -38003.
    const fcu = await authed("engine_forkchoiceUpdatedV3", [
      { ...state, finalizedBlockHash: genesisHash },
      { timestamp: "0x1", prevRandao: ZERO },
    ]);
    expect(fcu.error?.code).toBe(-38003);
    expect(fcu.error?.message).toContain('missing required field "suggestedFeeRecipient"');
    // Attributes with a timestamp not after the head.
    const attributes = {
      timestamp: "0x1",
      prevRandao: ZERO,
      suggestedFeeRecipient: `0x${"00".repeat(20)}`,
      withdrawals: [],
      parentBeaconBlockRoot: ZERO,
    };
    const stale = await authed("engine_forkchoiceUpdatedV3", [
      { ...state, finalizedBlockHash: genesisHash },
      attributes,
    ]);
    expect(stale.error?.code).toBe(-38003);
    // Unknown head: SYNCING, no payload.
    const syncing = await b.engine.forkchoiceUpdatedV3(
      { headBlockHash: `0x${"cd".repeat(32)}`, safeBlockHash: ZERO, finalizedBlockHash: ZERO },
      null,
    );
    expect(syncing).toEqual({
      payloadStatus: { status: "SYNCING", latestValidHash: null, validationError: null },
      payloadId: null,
    });
    // Through the client the codes arrive as EngineError.
    const err = await b.engine.getPayloadV4("0x0000000000000002").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe(-38001);
  });

  it("fails to start on a taken Engine API port and releases the datadir", async () => {
    const datadir = mkdtempSync(join(tmpdir(), "opengpu-el-busy-"));
    try {
      const port = Number(new URL(b.authUrl).port);
      const start = OpenGpuNode.start(
        {
          datadir,
          genesis: devGenesis(),
          rpc: {
            host: "127.0.0.1",
            httpPort: 0,
            bodyLimit: 1024 * 1024,
            batchLimit: 10,
            corsOrigins: [],
            rateLimit: 0,
            debug: false,
            options: {},
          },
          authrpc: { host: "127.0.0.1", port },
        },
        silentLogger(),
      );
      await expect(start).rejects.toThrow(/EADDRINUSE/);
      const el = await ExecutionLayer.open({ datadir }, { logger: silentLogger() });
      await el.close();
    } finally {
      rmSync(datadir, { recursive: true, force: true });
    }
  });
});
