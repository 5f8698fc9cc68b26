/**
 * Bad input over raw HTTP and WebSocket against a real dev node: JSON-RPC envelope errors,
 * parameter validation, absurd quantities, hostile bodies, batches, and every class of invalid
 * transaction through eth_sendRawTransaction, each answered with geth's code and message.
 */
import {
  concatHex,
  type Hex,
  keccak256,
  type LocalAccount,
  parseTransaction,
  serializeTransaction,
  type TransactionSerializable,
  toRlp,
} from "viem";
import { generatePrivateKey, privateKeyToAccount, sign } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

const CHAIN_ID = 1337;
/** secp256k1 group order. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const BODY_LIMIT = 5 * 1024 * 1024;
const BATCH_LIMIT = 1000;

/** Minimal big-endian hex for RLP (0 is the empty string). */
function rlpInt(n: bigint | number): Hex {
  const hex = BigInt(n).toString(16);
  return n === 0n || n === 0 ? "0x" : `0x${hex.length % 2 === 1 ? `0${hex}` : hex}`;
}

/**
 * Signs an EIP-1559 transaction without the client-side checks viem applies (a tip above the
 * fee cap), optionally tampering with the signature values (a y-parity other than 0 or 1).
 */
async function signUnchecked1559(
  privateKey: Hex,
  tx: {
    nonce: number;
    to: Hex;
    value: bigint;
    gas: bigint;
    maxFeePerGas: bigint;
    maxPriorityFeePerGas: bigint;
  },
  tamper: (sig: { yParity: bigint; r: bigint; s: bigint }) => { yParity: bigint; r: bigint; s: bigint } = (
    sig,
  ) => sig,
): Promise<Hex> {
  const fields: Hex[] = [
    rlpInt(CHAIN_ID),
    rlpInt(tx.nonce),
    rlpInt(tx.maxPriorityFeePerGas),
    rlpInt(tx.maxFeePerGas),
    rlpInt(tx.gas),
    tx.to,
    rlpInt(tx.value),
    "0x",
  ];
  const unsigned = concatHex(["0x02", toRlp([...fields, []])]);
  const signature = await sign({ hash: keccak256(unsigned), privateKey });
  const { yParity, r, s } = tamper({
    yParity: BigInt(signature.yParity ?? 0),
    r: BigInt(signature.r),
    s: BigInt(signature.s),
  });
  return concatHex(["0x02", toRlp([...fields, [], rlpInt(yParity), rlpInt(r), rlpInt(s)])]);
}

interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}
interface RpcResponse {
  jsonrpc: string;
  id: unknown;
  result?: unknown;
  error?: RpcError;
}

describe("JSON-RPC bad input", () => {
  let dev: DevNodeHandle;
  let alice: LocalAccount;
  let bob: LocalAccount;
  let baseFee: bigint;

  /** POSTs a raw body; returns status, content type, raw text and the parsed body (if any). */
  async function post(body: string, contentType = "application/json") {
    const response = await fetch(dev.httpUrl, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });
    const text = await response.text();
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      text,
      json: text === "" ? undefined : (JSON.parse(text) as RpcResponse | RpcResponse[]),
    };
  }

  async function call(method: string, params?: unknown): Promise<RpcResponse> {
    const { status, json } = await post(
      JSON.stringify({ jsonrpc: "2.0", id: 7, method, ...(params === undefined ? {} : { params }) }),
    );
    expect(status).toBe(200);
    const response = json as RpcResponse;
    expect(response.jsonrpc).toBe("2.0");
    expect(response.id).toBe(7);
    return response;
  }

  async function expectError(method: string, params: unknown, code: number, message: string | RegExp) {
    const response = await call(method, params);
    expect(response.result).toBeUndefined();
    expect(response.error?.code).toBe(code);
    if (typeof message === "string") expect(response.error?.message).toBe(message);
    else expect(response.error?.message).toMatch(message);
    return response.error as RpcError;
  }

  async function nonceOf(address: string, tag = "latest"): Promise<number> {
    return Number(await dev.call<string>("eth_getTransactionCount", [address, tag]));
  }

  /** A signed EIP-1559 transfer from `from` with sensible defaults. */
  async function sign1559(
    from: LocalAccount,
    overrides: Partial<TransactionSerializable> = {},
  ): Promise<Hex> {
    return from.signTransaction({
      type: "eip1559",
      chainId: CHAIN_ID,
      nonce: await nonceOf(from.address, "pending"),
      to: bob.address,
      value: 1n,
      gas: 21_000n,
      maxFeePerGas: baseFee * 4n + 2_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
      ...overrides,
    } as TransactionSerializable);
  }

  async function sendRaw(raw: string) {
    return call("eth_sendRawTransaction", [raw]);
  }

  async function expectRejected(raw: string, prefix: string): Promise<string> {
    const response = await sendRaw(raw);
    expect(response.result).toBeUndefined();
    expect(response.error?.code).toBe(-32000);
    expect(
      response.error?.message.startsWith(prefix),
      `"${response.error?.message}" starts with "${prefix}"`,
    ).toBe(true);
    return response.error?.message as string;
  }

  beforeAll(async () => {
    dev = await startDevNode({ automine: true, rpc: { bodyLimit: BODY_LIMIT, batchLimit: BATCH_LIMIT } });
    alice = privateKeyToAccount(dev.accounts[0].privateKey);
    bob = privateKeyToAccount(dev.accounts[1].privateKey);
    const head = await dev.call<{ baseFeePerGas: string }>("eth_getBlockByNumber", ["latest", false]);
    baseFee = BigInt(head.baseFeePerGas);
  });

  afterAll(async () => {
    await dev?.stop();
  });

  describe("envelope", () => {
    it("answers malformed JSON with -32700 and id null", async () => {
      for (const body of [
        '{"jsonrpc":"2.0",',
        "{",
        "not json",
        '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"} x',
      ]) {
        const { status, json, contentType } = await post(body);
        expect(status).toBe(200);
        expect(contentType).toMatch(/application\/json/);
        expect(json).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } });
      }
    });

    it("answers non-object requests, missing methods and wrong versions with -32600", async () => {
      for (const body of ["42", '"eth_chainId"', "true", "null"]) {
        const { json } = await post(body);
        expect((json as RpcResponse).error?.code, body).toBe(-32600);
        expect((json as RpcResponse).id).toBeNull();
      }
      const cases: [unknown, unknown][] = [
        [{ jsonrpc: "2.0", id: 1 }, 1],
        [{ jsonrpc: "2.0", id: 2, method: 5 }, 2],
        [{ jsonrpc: "1.0", id: 3, method: "eth_chainId" }, 3],
        [{ id: 4, method: "eth_chainId" }, 4],
        [{ jsonrpc: "2.0", id: { nested: true }, method: "eth_chainId" }, null],
        [{ jsonrpc: "2.0", id: [1], method: "eth_chainId" }, null],
      ];
      for (const [request, id] of cases) {
        const { json } = await post(JSON.stringify(request));
        expect(json, JSON.stringify(request)).toMatchObject({ jsonrpc: "2.0", id, error: { code: -32600 } });
      }
    });

    it("answers unknown methods with -32601 and geth's message", async () => {
      await expectError(
        "eth_doesNotExist",
        [],
        -32601,
        "the method eth_doesNotExist does not exist/is not available",
      );
      await expectError("admin_peers", [], -32601, "the method admin_peers does not exist/is not available");
      await expectError("__proto__", [], -32601, "the method __proto__ does not exist/is not available");
      await expectError("constructor", [], -32601, "the method constructor does not exist/is not available");
      // Subscriptions need a connection that can carry notifications.
      await expectError("eth_subscribe", ["newHeads"], -32601, "notifications not supported");
    });

    it("refuses other content types with HTTP 415 and bodies over the limit with HTTP 413", async () => {
      const wrongType = await post(
        JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId" }),
        "text/plain",
      );
      expect(wrongType.status).toBe(415);
      expect((wrongType.json as RpcResponse).error?.code).toBe(-32600);
      // Media type parameters and geth's alternative JSON types are accepted.
      for (const type of [
        "application/json; charset=utf-8",
        "application/json-rpc",
        "application/jsonrequest",
      ]) {
        const ok = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId" }), type);
        expect(ok.json, type).toEqual({ jsonrpc: "2.0", id: 1, result: "0x539" });
      }

      const big = JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "eth_call",
        params: [{ data: `0x${"00".repeat(BODY_LIMIT)}` }],
      });
      const tooLarge = await post(big);
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.contentType).toMatch(/application\/json/);
      const error = (tooLarge.json as RpcResponse).error;
      expect(error?.code).toBe(-32005);
      expect(error?.message).toMatch(/too large/);
      expect(await dev.call("eth_chainId")).toBe("0x539");
    });

    it("survives deeply nested JSON", async () => {
      const depth = 100_000;
      const nestedArrays = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      const arrays = await post(nestedArrays);
      expect(arrays.status).toBe(200);
      expect(arrays.json).toBeDefined();
      const arrayError = Array.isArray(arrays.json) ? arrays.json[0]?.error : arrays.json?.error;
      expect([-32700, -32600]).toContain(arrayError?.code);

      const nestedObjects = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
      const objects = await post(nestedObjects);
      expect([-32700, -32600]).toContain((objects.json as RpcResponse).error?.code);

      // Deep nesting inside params reaches the decoders.
      const deepParam = `{"jsonrpc":"2.0","id":9,"method":"eth_call","params":[{"to":${nestedArrays}}]}`;
      const params = await post(deepParam);
      expect([-32700, -32602]).toContain((params.json as RpcResponse).error?.code);
      const deepPercentiles = `{"jsonrpc":"2.0","id":9,"method":"eth_feeHistory","params":["0x1","latest",${nestedArrays}]}`;
      const percentiles = await post(deepPercentiles);
      expect([-32700, -32602]).toContain((percentiles.json as RpcResponse).error?.code);

      expect(await dev.call("eth_chainId")).toBe("0x539");
    });
  });

  describe("parameters", () => {
    const addr = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

    it("names the argument for wrong hex encodings", async () => {
      await expectError(
        "eth_getBalance",
        [addr, "1"],
        -32602,
        "invalid argument 1: hex string without 0x prefix",
      );
      await expectError(
        "eth_getBlockByNumber",
        ["0x01", false],
        -32602,
        "invalid argument 0: hex number with leading zero digits",
      );
      await expectError("eth_getBlockByNumber", ["0x", false], -32602, /^invalid argument 0: /);
      await expectError("eth_getBlockByNumber", ["0xzz", false], -32602, /^invalid argument 0: invalid hex/);
      await expectError(
        "eth_sendRawTransaction",
        ["0x123"],
        -32602,
        "invalid argument 0: hex string of odd length",
      );
      await expectError(
        "eth_sendRawTransaction",
        ["abcd"],
        -32602,
        "invalid argument 0: hex string without 0x prefix",
      );
      await expectError(
        "eth_getBalance",
        ["0x1234", "latest"],
        -32602,
        "invalid argument 0: hex string has length 4, want 40",
      );
      await expectError(
        "eth_getBalance",
        [`${addr}00`, "latest"],
        -32602,
        /^invalid argument 0: hex string has length 42/,
      );
      await expectError(
        "eth_getTransactionByHash",
        ["0x1234"],
        -32602,
        /^invalid argument 0: hex string has length 4, want 64/,
      );
      await expectError("eth_call", [{ to: "0x12" }, "latest"], -32602, /^invalid argument 0: .*to/);
      await expectError(
        "eth_call",
        [{ to: addr, value: "0x00" }, "latest"],
        -32602,
        /^invalid argument 0: .*value/,
      );
      await expectError("eth_getBlockByNumber", ["latest", "yes"], -32602, /^invalid argument 1: /);
    });

    it("names the argument for wrong JSON types", async () => {
      await expectError("eth_getBalance", [123, "latest"], -32602, /^invalid argument 0: /);
      await expectError("eth_getBalance", [addr, { foo: 1 }], -32602, /^invalid argument 1: /);
      await expectError("eth_call", ["0x00", "latest"], -32602, /^invalid argument 0: /);
      await expectError("eth_getLogs", [[]], -32602, /^invalid argument 0: /);
      await expectError("eth_getLogs", [{ topics: "0x00" }], -32602, /^invalid argument 0: /);
      await expectError("eth_getBalance", { address: addr }, -32602, "non-array args");
    });

    it("checks argument counts", async () => {
      await expectError("eth_blockNumber", [1], -32602, "too many arguments, want at most 0");
      await expectError(
        "eth_getBalance",
        [addr, "latest", "extra"],
        -32602,
        "too many arguments, want at most 2",
      );
      await expectError("eth_getBalance", [], -32602, "missing value for required argument 0");
      await expectError("eth_getBlockByNumber", ["latest"], -32602, "missing value for required argument 1");
      await expectError("eth_sendRawTransaction", undefined, -32602, "missing value for required argument 0");
      // Omitted optional block: latest.
      expect((await call("eth_getBalance", [addr])).result).toMatch(/^0x[0-9a-f]+$/);
    });

    it("rejects absurd quantities without failing internally", async () => {
      const over64 = "0x10000000000000000";
      await expectError("eth_feeHistory", [over64, "latest", []], -32602, /^invalid argument 0: /);
      await expectError("eth_feeHistory", [1e30, "latest", []], -32602, /^invalid argument 0: /);
      await expectError("eth_feeHistory", [-1, "latest", []], -32602, /^invalid argument 0: /);
      await expectError("eth_getBlockByNumber", [over64, false], -32602, /^invalid argument 0: /);
      await expectError(
        "eth_getBlockByNumber",
        [`0x1${"0".repeat(100)}`, false],
        -32602,
        /^invalid argument 0: /,
      );
      await expectError("eth_getBalance", [addr, over64], -32602, /^invalid argument 1: /);
      await expectError(
        "eth_call",
        [{ to: addr, gas: over64 }, "latest"],
        -32602,
        /^invalid argument 0: gas: /,
      );
      await expectError(
        "eth_call",
        [{ to: addr, value: `0x1${"0".repeat(64)}` }],
        -32602,
        /^invalid argument 0: value: /,
      );
      await expectError(
        "eth_getStorageAt",
        [addr, `0x${"11".repeat(33)}`, "latest"],
        -32602,
        /^invalid argument 1: /,
      );
      await expectError("eth_feeHistory", ["0x2", "latest", [101]], -32602, /^invalid argument 2: /);
      await expectError("eth_feeHistory", ["0x2", "latest", [50, 10]], -32602, /invalid reward percentile/);

      // The largest 64-bit values are well-formed: capped counts, unknown blocks.
      const head = Number(await dev.call<string>("eth_blockNumber"));
      const history = await call("eth_feeHistory", ["0xffffffffffffffff", "latest", []]);
      expect(history.error).toBeUndefined();
      const result = history.result as { oldestBlock: string; baseFeePerGas: string[] };
      expect(Number(result.oldestBlock)).toBe(Math.max(0, head - 1023));
      expect(result.baseFeePerGas).toHaveLength(Math.min(head + 1, 1024) + 1);
      expect((await call("eth_getBlockByNumber", ["0xffffffffffffffff", false])).result).toBeNull();
      expect(
        (await call("eth_getTransactionByBlockNumberAndIndex", ["latest", "0xffffffffffffffff"])).result,
      ).toBeNull();
      expect(
        (await call("eth_getUncleByBlockNumberAndIndex", ["latest", "0xffffffffffffffff"])).result,
      ).toBeNull();
      await expectError("eth_getBalance", [addr, "0xffffffffffffffff"], -32000, "header not found");
      await expectError(
        "eth_feeHistory",
        ["0x1", "0xffffffffffffffff", []],
        -32000,
        /header not found|beyond/,
      );
      const logs = await call("eth_getLogs", [{ fromBlock: "0x0", toBlock: "0xffffffffffffffff" }]);
      expect(logs.error?.code === -32000 || logs.error?.code === -32005 || Array.isArray(logs.result)).toBe(
        true,
      );
      const future = await call("eth_getLogs", [{ fromBlock: "0xffffffffffffffff" }]);
      expect(future.error === undefined ? future.result : future.error.code).toBeDefined();
      expect(await dev.call("eth_chainId")).toBe("0x539");
    });
  });

  describe("batches and notifications", () => {
    it("answers an empty batch with one -32600 error", async () => {
      const { json } = await post("[]");
      expect(json).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "empty batch" } });
    });

    it("answers an oversized batch with one error naming the limit, as geth does", async () => {
      const calls = Array.from({ length: BATCH_LIMIT + 1 }, (_, i) => ({
        jsonrpc: "2.0",
        id: i + 1,
        method: "eth_chainId",
      }));
      const { status, json } = await post(JSON.stringify(calls));
      expect(status).toBe(200);
      expect(Array.isArray(json)).toBe(true);
      const responses = json as RpcResponse[];
      expect(responses).toHaveLength(1);
      expect(responses[0]).toMatchObject({ jsonrpc: "2.0", id: 1, error: { code: -32600 } });
      expect(responses[0].error?.message).toMatch(/^batch too large/);

      // At the limit, every call is answered.
      const atLimit = await post(JSON.stringify(calls.slice(0, BATCH_LIMIT)));
      expect((atLimit.json as RpcResponse[]).map((r) => r.id)).toEqual(
        calls.slice(0, BATCH_LIMIT).map((c) => c.id),
      );
    });

    it("sends nothing back for notifications", async () => {
      const single = await post(JSON.stringify({ jsonrpc: "2.0", method: "eth_chainId" }));
      expect(single.status).toBe(200);
      expect(single.text).toBe("");
      const unknown = await post(JSON.stringify({ jsonrpc: "2.0", method: "eth_nope", params: [] }));
      expect(unknown.text).toBe("");
      const onlyNotifications = await post(
        JSON.stringify([
          { jsonrpc: "2.0", method: "eth_chainId" },
          { jsonrpc: "2.0", method: "eth_blockNumber" },
        ]),
      );
      expect(onlyNotifications.status).toBe(200);
      expect(onlyNotifications.text).toBe("");
    });

    it("answers each call of a mixed batch in order, skipping notifications", async () => {
      const batch = [
        { jsonrpc: "2.0", id: 1, method: "eth_chainId" },
        { jsonrpc: "2.0", id: 2, method: "eth_nope" },
        { jsonrpc: "2.0", id: 3, method: "eth_getBalance", params: ["0x12"] },
        { jsonrpc: "2.0", method: "eth_chainId" },
        42,
        { jsonrpc: "2.0", id: "four", method: "eth_blockNumber" },
        { jsonrpc: "2.0", id: null, method: "net_version" },
      ];
      const { json } = await post(JSON.stringify(batch));
      const responses = json as RpcResponse[];
      expect(responses).toHaveLength(6);
      expect(responses[0]).toEqual({ jsonrpc: "2.0", id: 1, result: "0x539" });
      expect(responses[1]).toMatchObject({ id: 2, error: { code: -32601 } });
      expect(responses[2]).toMatchObject({ id: 3, error: { code: -32602 } });
      expect(responses[3]).toMatchObject({ id: null, error: { code: -32600 } });
      expect(responses[4]).toMatchObject({ id: "four", result: expect.stringMatching(/^0x[0-9a-f]+$/) });
      expect(responses[5]).toEqual({ jsonrpc: "2.0", id: null, result: "1337" });
    });
  });

  describe("WebSocket", () => {
    /** Opens a socket and queues every message it receives. */
    async function open() {
      const ws = new WebSocket(dev.wsUrl);
      const messages: unknown[] = [];
      const waiting: ((m: unknown) => void)[] = [];
      let closed: { code: number } | undefined;
      ws.addEventListener("message", (event) => {
        const message = JSON.parse(String(event.data));
        const next = waiting.shift();
        if (next !== undefined) next(message);
        else messages.push(message);
      });
      ws.addEventListener("close", (event) => {
        closed = { code: event.code };
      });
      await new Promise<void>((resolve, reject) => {
        ws.addEventListener("open", () => resolve(), { once: true });
        ws.addEventListener("error", () => reject(new Error("WebSocket failed to open")), { once: true });
      });
      return {
        ws,
        next: (timeoutMs = 10_000) =>
          messages.length > 0
            ? Promise.resolve(messages.shift())
            : new Promise<unknown>((resolve, reject) => {
                const timer = setTimeout(() => reject(new Error("no WebSocket message")), timeoutMs);
                waiting.push((m) => {
                  clearTimeout(timer);
                  resolve(m);
                });
              }),
        closed: () => closed,
      };
    }

    it("answers garbage frames with parse errors and keeps the connection usable", async () => {
      const socket = await open();
      try {
        socket.ws.send("garbage{");
        expect(await socket.next()).toEqual({
          jsonrpc: "2.0",
          id: null,
          error: { code: -32700, message: "parse error" },
        });
        socket.ws.send(new Uint8Array([0xff, 0x00, 0xfe, 0x01, 0x80]));
        expect(await socket.next()).toMatchObject({ id: null, error: { code: -32700 } });
        socket.ws.send("");
        expect(await socket.next()).toMatchObject({ id: null, error: { code: -32700 } });
        socket.ws.send("[]");
        expect(await socket.next()).toMatchObject({
          id: null,
          error: { code: -32600, message: "empty batch" },
        });
        socket.ws.send("17");
        expect(await socket.next()).toMatchObject({ id: null, error: { code: -32600 } });
        socket.ws.send(`${"[".repeat(100_000)}${"]".repeat(100_000)}`);
        const nested = await socket.next();
        const nestedError = Array.isArray(nested) ? nested[0]?.error : (nested as RpcResponse).error;
        expect([-32700, -32600]).toContain(nestedError?.code);
        // A notification gets no answer: the next message is the answer to the call after it.
        socket.ws.send(JSON.stringify({ jsonrpc: "2.0", method: "eth_chainId" }));
        socket.ws.send(JSON.stringify({ jsonrpc: "2.0", id: 5, method: "eth_chainId" }));
        expect(await socket.next()).toEqual({ jsonrpc: "2.0", id: 5, result: "0x539" });
        socket.ws.send(
          JSON.stringify([
            { jsonrpc: "2.0", id: 6, method: "eth_nope" },
            { jsonrpc: "2.0", id: 7, method: "net_version" },
          ]),
        );
        expect(await socket.next()).toEqual([
          {
            jsonrpc: "2.0",
            id: 6,
            error: { code: -32601, message: "the method eth_nope does not exist/is not available" },
          },
          { jsonrpc: "2.0", id: 7, result: "1337" },
        ]);
        socket.ws.send(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "eth_subscribe", params: ["nope"] }));
        expect(await socket.next()).toMatchObject({ id: 8, error: { code: -32602 } });
        socket.ws.send(
          JSON.stringify({ jsonrpc: "2.0", id: 9, method: "eth_unsubscribe", params: ["0x1234"] }),
        );
        expect(await socket.next()).toEqual({ jsonrpc: "2.0", id: 9, result: false });
        expect(socket.closed()).toBeUndefined();
      } finally {
        socket.ws.close();
      }
    });

    it("closes a connection that sends a message over the size limit, and serves new ones", async () => {
      const socket = await open();
      socket.ws.send(`"${"a".repeat(BODY_LIMIT + 16)}"`);
      const deadline = Date.now() + 10_000;
      while (socket.closed() === undefined) {
        if (Date.now() > deadline) throw new Error("connection not closed");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(socket.closed()?.code).toBe(1009);
      const fresh = await open();
      try {
        fresh.ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId" }));
        expect(await fresh.next()).toEqual({ jsonrpc: "2.0", id: 1, result: "0x539" });
      } finally {
        fresh.ws.close();
      }
    });
  });

  describe("invalid transactions (eth_sendRawTransaction)", () => {
    it("refuses undecodable bytes and unknown types", async () => {
      const good = await sign1559(alice);
      await expectRejected(good.slice(0, good.length - 20), "rlp: ");
      await expectRejected("0xdeadbeef", "rlp: ");
      await expectRejected("0xc0", "rlp: ");
      await expectRejected(`${good}00`, "rlp: ");
      await expectError("eth_sendRawTransaction", ["0x"], -32000, /^typed transaction too short|^rlp: /);
      await expectRejected(`0x05${good.slice(4)}`, "transaction type not supported");
      await expectRejected(`0x7f${good.slice(4)}`, "transaction type not supported");
      await expectRejected(`0x00${good.slice(4)}`, "transaction type not supported");
    });

    it("refuses blob transactions and oversized data", async () => {
      const blob = await alice.signTransaction({
        type: "eip4844",
        chainId: CHAIN_ID,
        nonce: await nonceOf(alice.address, "pending"),
        to: bob.address,
        gas: 21_000n,
        maxFeePerGas: baseFee * 4n,
        maxPriorityFeePerGas: 1n,
        maxFeePerBlobGas: 1n,
        blobVersionedHashes: [`0x01${"00".repeat(31)}`],
      });
      await expectRejected(blob, "transaction type not supported");

      const huge = await sign1559(alice, { data: `0x${"01".repeat(128 * 1024)}`, gas: 10_000_000n });
      const message = await expectRejected(huge, "oversized data");
      expect(message).toMatch(/limit 131072/);
    });

    it("refuses bad signatures, foreign chain ids and unprotected legacy transactions", async () => {
      const good = await sign1559(alice);
      const parsed = parseTransaction(good);
      const unsigned = { ...parsed, type: "eip1559" } as TransactionSerializable;
      const r = parsed.r as Hex;
      const s = BigInt(parsed.s as Hex);
      const yParity = parsed.yParity as number;
      // High s (EIP-2), zero signature, and a y-parity that is neither 0 nor 1.
      await expectRejected(
        serializeTransaction(unsigned, { r, s: `0x${(SECP256K1_N - s).toString(16)}`, yParity: 1 - yParity }),
        "invalid sender",
      );
      await expectRejected(
        serializeTransaction(unsigned, { r: "0x0", s: "0x0", yParity: 0 }),
        "invalid sender",
      );
      const fields = {
        nonce: parsed.nonce as number,
        to: bob.address,
        value: 1n,
        gas: 21_000n,
        maxFeePerGas: parsed.maxFeePerGas as bigint,
        maxPriorityFeePerGas: parsed.maxPriorityFeePerGas as bigint,
      };
      // The untampered helper output is a valid transaction (sanity check of the helper).
      expect(await signUnchecked1559(dev.accounts[0].privateKey, fields)).toBe(good);
      for (const tamper of [
        (sig: { yParity: bigint; r: bigint; s: bigint }) => ({ ...sig, yParity: sig.yParity + 2n }),
        (sig: { yParity: bigint; r: bigint; s: bigint }) => ({ ...sig, yParity: 27n + sig.yParity }),
        (sig: { yParity: bigint; r: bigint; s: bigint }) => ({ ...sig, r: SECP256K1_N }),
        (sig: { yParity: bigint; r: bigint; s: bigint }) => ({ ...sig, s: 0n }),
      ]) {
        await expectRejected(
          await signUnchecked1559(dev.accounts[0].privateKey, fields, tamper),
          "invalid sender",
        );
      }
      // Signed for another chain (typed and EIP-155 legacy).
      await expectRejected(await sign1559(alice, { chainId: 1 }), "invalid sender");
      const nonce = await nonceOf(alice.address, "pending");
      const foreignLegacy = await alice.signTransaction({
        type: "legacy",
        chainId: 1,
        nonce,
        to: bob.address,
        value: 1n,
        gas: 21_000n,
        gasPrice: baseFee * 4n,
      });
      await expectRejected(foreignLegacy, "invalid sender");
      // Legacy without EIP-155.
      const unprotected = await alice.signTransaction({
        type: "legacy",
        nonce,
        to: bob.address,
        value: 1n,
        gas: 21_000n,
        gasPrice: baseFee * 4n,
      });
      expect(parseTransaction(unprotected).chainId).toBeUndefined();
      await expectRejected(unprotected, "only replay-protected (EIP-155) transactions allowed over RPC");
      expect(await nonceOf(alice.address)).toBe(nonce);
    });

    it("refuses stateful violations: nonce, funds, gas, fees", async () => {
      // Make sure alice has a used nonce.
      const first = await sign1559(alice);
      const mined = await sendRaw(first);
      expect(mined.error).toBeUndefined();
      const used = (await nonceOf(alice.address)) - 1;
      await expectRejected(await sign1559(alice, { nonce: used }), "nonce too low");
      // The mined transaction itself, sent again.
      await expectRejected(first, "nonce too low");

      const poor = privateKeyToAccount(generatePrivateKey());
      await expectRejected(await sign1559(poor), "insufficient funds for gas * price + value");
      const richValue = await sign1559(alice, { value: 10n ** 30n });
      await expectRejected(richValue, "insufficient funds for gas * price + value");

      await expectRejected(await sign1559(alice, { gas: 20_999n }), "intrinsic gas too low");
      await expectRejected(await sign1559(alice, { gas: 21_000n, data: "0x0102" }), "intrinsic gas too low");
      const head = await dev.call<{ gasLimit: string }>("eth_getBlockByNumber", ["latest", false]);
      await expectRejected(
        await sign1559(alice, { gas: BigInt(head.gasLimit) + 1n }),
        "exceeds block gas limit",
      );

      const nextBaseFee = BigInt(
        (await dev.call<{ baseFeePerGas: string[] }>("eth_feeHistory", ["0x1", "latest", []]))
          .baseFeePerGas[1],
      );
      expect(nextBaseFee).toBeGreaterThan(1n);
      await expectRejected(
        await sign1559(alice, { maxFeePerGas: nextBaseFee - 1n, maxPriorityFeePerGas: 1n }),
        "max fee per gas less than block base fee",
      );
      const tipAboveCap = await signUnchecked1559(dev.accounts[0].privateKey, {
        nonce: await nonceOf(alice.address, "pending"),
        to: bob.address,
        value: 1n,
        gas: 21_000n,
        maxFeePerGas: nextBaseFee * 2n,
        maxPriorityFeePerGas: nextBaseFee * 3n,
      });
      await expectRejected(tipAboveCap, "max priority fee per gas higher than max fee per gas");
      expect(await nonceOf(alice.address, "pending")).toBe(used + 1);
    });

    it("refuses duplicates and underpriced replacements, accepts a bumped replacement", async () => {
      const sender = privateKeyToAccount(dev.accounts[4].privateKey);
      const nonce = await nonceOf(sender.address, "pending");
      // A nonce gap keeps the transaction queued in the pool (automine cannot include it).
      const queued = await sign1559(sender, { nonce: nonce + 1 });
      const added = await sendRaw(queued);
      expect(added.error).toBeUndefined();
      expect(typeof added.result).toBe("string");
      await expectRejected(queued, "already known");

      const samePrice = await sign1559(sender, { nonce: nonce + 1, value: 2n });
      await expectRejected(samePrice, "replacement transaction underpriced");
      const tx = parseTransaction(queued);
      const slightlyMore = await sign1559(sender, {
        nonce: nonce + 1,
        value: 3n,
        maxFeePerGas: (tx.maxFeePerGas as bigint) + 1n,
        maxPriorityFeePerGas: (tx.maxPriorityFeePerGas as bigint) + 1n,
      });
      await expectRejected(slightlyMore, "replacement transaction underpriced");
      const bumped = await sign1559(sender, {
        nonce: nonce + 1,
        value: 4n,
        maxFeePerGas: ((tx.maxFeePerGas as bigint) * 11n) / 10n,
        maxPriorityFeePerGas: ((tx.maxPriorityFeePerGas as bigint) * 11n) / 10n,
      });
      const replaced = await sendRaw(bumped);
      expect(replaced.error).toBeUndefined();
      const status = await dev.call<{ pending: string; queued: string }>("txpool_status");
      expect(Number(status.queued)).toBe(1);

      // Filling the gap mines both; the replacement (value 4) is the one included.
      const gap = await sendRaw(await sign1559(sender, { nonce }));
      expect(gap.error).toBeUndefined();
      const deadline = Date.now() + 10_000;
      while ((await nonceOf(sender.address)) < nonce + 2) {
        if (Date.now() > deadline) throw new Error("queued transaction not mined");
        await dev.node.producer?.trigger();
      }
      const included = await dev.call<{ value: string } | null>("eth_getTransactionByHash", [
        replaced.result,
      ]);
      expect(included?.value).toBe("0x4");
      expect(await dev.call("eth_getTransactionByHash", [added.result])).toBeNull();
    });

    it("accepts a transaction that will revert and mines it with status 0", async () => {
      // Init code PUSH1 0 PUSH1 0 REVERT.
      const raw = await alice.signTransaction({
        type: "eip1559",
        chainId: CHAIN_ID,
        nonce: await nonceOf(alice.address, "pending"),
        gas: 100_000n,
        maxFeePerGas: baseFee * 4n + 2_000_000_000n,
        maxPriorityFeePerGas: 1_000_000_000n,
        data: "0x60006000fd",
      });
      const estimate = await call("eth_estimateGas", [{ from: alice.address, data: "0x60006000fd" }]);
      expect(estimate.error?.code).toBe(3);
      expect(estimate.error?.message).toBe("execution reverted");
      const sent = await sendRaw(raw);
      expect(sent.error).toBeUndefined();
      const receipt = await dev.call<{ status: string; contractAddress: string | null; gasUsed: string }>(
        "eth_getTransactionReceipt",
        [sent.result],
      );
      expect(receipt.status).toBe("0x0");
      expect(BigInt(receipt.gasUsed)).toBeGreaterThan(53_000n);
    });
  });
});
