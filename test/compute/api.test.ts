/**
 * The compute layer's client APIs on a proof-of-stake dev node: JSON-RPC `opengpu_` (tasks,
 * bids, providers, models with filters and cursors, blobs whole and in parts, errors with their
 * codes) and REST `/opengpu/v1` (the same records with decimal numbers, 400 and 404), and the
 * tasks-by-state metric. The chain is driven through the system contracts' ABIs (Market).
 */
import { createHash, randomBytes } from "node:crypto";
import { type Abi, type Hex, keccak256, toHex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BLOB_READ } from "../../node/api/compute/queries.ts";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../precompiles/addresses.ts";
import { PROVIDER_REGISTRY_ABI } from "../../precompiles/provider-registry/index.ts";
import type { Task } from "../../precompiles/task-market/index.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";
import { commitAndDraw, ENV, runAuction, settleAccepted, submitTask, TOLERANCE_POLICY } from "./flows.ts";
import { Market, OGPU, type Provider } from "./market.ts";

const MODEL = `0x${"11".repeat(32)}` as Hex;
const OUTPUT = keccak256(toHex("output"));
const PROVIDER_ACCOUNTS = [4, 5, 6, 7, 8];
const CLIENT = 9;
const OTHER_CLIENT = 10;
const KEEPER = 11;
const STAKE = 1000n * OGPU;
const hex = (n: bigint | number) => `0x${BigInt(n).toString(16)}`;
const sha256 = (b: Uint8Array) => `0x${createHash("sha256").update(b).digest("hex")}` as Hex;

type RpcResponse = { result?: unknown; error?: { code: number; message: string; data?: unknown } };

describe("compute APIs", () => {
  let dev: DevNodeHandle;
  let m: Market;
  let providers: Provider[];
  /**
   * Task ids: settled (client), open (client), open then cancelled (other client), assigned
   * (client), bidding (other client, one sealed bid).
   */
  let settled: bigint;
  let open: bigint;
  let cancelled: bigint;
  let assigned: bigint;
  let bidding: bigint;
  /** Block that cancelled `cancelled`. */
  let cancelBlock: bigint;

  const call = <T>(method: string, params: unknown[] = []) => dev.call<T>(method, params);
  const rpcError = async (method: string, params: unknown[]) => {
    const r = (await dev.rpc(method, params)) as RpcResponse;
    if (r.error === undefined) throw new Error(`${method} did not fail: ${JSON.stringify(r.result)}`);
    return r.error;
  };
  const rest = async (path: string) => {
    const response = await fetch(`${dev.restUrl}${path}`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    dev = await startDevNode({ consensus: true, rest: true, metrics: true, accounts: 12 });
    m = new Market(dev);
    providers = await m.registerProviders(PROVIDER_ACCOUNTS, STAKE);
    await m.registerModel(0, MODEL);
    settled = await submitTask(m, CLIENT, { model: MODEL });
    await runAuction(
      m,
      settled,
      [
        { p: providers[0], price: 3n * OGPU },
        { p: providers[1], price: 2n * OGPU },
      ],
      KEEPER,
    );
    await commitAndDraw(m, providers, settled, OUTPUT, KEEPER);
    await settleAccepted(m, providers, settled, KEEPER);
    open = await submitTask(m, CLIENT, { model: MODEL });
    cancelled = await submitTask(m, OTHER_CLIENT, { model: MODEL });
    assigned = await submitTask(m, CLIENT, { model: MODEL, maxPrice: 4n * OGPU });
    await runAuction(m, assigned, [{ p: providers[2], price: OGPU }], KEEPER);
    bidding = await submitTask(m, OTHER_CLIENT, { model: MODEL });
    await m.commitBids(bidding, [{ p: providers[3], price: OGPU }]);
  }, 120_000);
  afterAll(async () => {
    await dev?.stop();
  });

  /** The task as opengpu_getTask should show it, from the contract's own getTask. */
  function expectedTask(t: Task) {
    const zero = `0x${"00".repeat(20)}`;
    return {
      id: hex(t.id),
      client: t.client.toLowerCase(),
      state: ["None", "Open", "Bidding", "Assigned", "Executed", "Verifying", "Settled"][t.state],
      stateCode: hex(t.state),
      model: t.model,
      inputHash: t.inputHash,
      deposit: hex(t.deposit),
      maxPrice: hex(t.maxPrice),
      submittedAt: hex(t.submittedAt),
      commitEnd: hex(t.commitEnd),
      revealEnd: hex(t.revealEnd),
      executionTimeout: hex(t.executionTimeout),
      deadline: hex(t.deadline),
      committeeSize: hex(t.committeeSize),
      policy: {
        kind: "tolerance",
        kindCode: "0x1",
        rtolPpb: hex(1_000_000),
        atolPpb: hex(10_000),
        topK: "0x1",
      },
      policyHash: t.policyHash,
      payment: { kind: "equal", kindCode: "0x0", verificationFee: hex(t.payment.verificationFee) },
      round: hex(t.round),
      provider: t.provider.toLowerCase() === zero ? null : t.provider.toLowerCase(),
      price: hex(t.price),
      executionDeadline: hex(t.executionDeadline),
      outputCommitment: t.outputCommitment,
      environment: t.environment,
      executedAt: hex(t.executedAt),
      committee: t.committee.map((a) => a.toLowerCase()),
      verifyDeadline: hex(t.verifyDeadline),
      verdict: ["None", "Accept"][t.verdict],
      verdictCode: hex(t.verdict),
      closedAt: hex(t.closedAt),
    };
  }

  describe("JSON-RPC opengpu_", () => {
    it("returns a settled task as the contract holds it", async () => {
      const t = await m.task(settled);
      expect(t.state).toBe(6);
      const got = await call<Record<string, unknown>>("opengpu_getTask", [hex(settled)]);
      expect(got).toEqual(expectedTask(t));
      expect(got).toMatchObject({
        state: "Settled",
        verdict: "Accept",
        provider: providers[1].address.toLowerCase(),
        price: hex(2n * OGPU),
        outputCommitment: OUTPUT,
        environment: ENV,
      });
      expect((got.committee as string[]).length).toBe(3);
      const fresh = await call<Record<string, unknown>>("opengpu_getTask", [hex(open)]);
      expect(fresh).toMatchObject({ state: "Open", provider: null, verdict: "None", round: "0x0" });
    });

    it("answers unknown and malformed task ids with clear errors", async () => {
      expect(await rpcError("opengpu_getTask", ["0x3e8"])).toEqual({
        code: -32001,
        message: "task 1000 not found (tasks are 1 to 5)",
        data: { id: "1000" },
      });
      expect((await rpcError("opengpu_getTask", ["0x0"])).code).toBe(-32001);
      expect(await rpcError("opengpu_getTask", ["12"])).toEqual({
        code: -32602,
        message: "invalid argument 0: hex string without 0x prefix",
      });
      expect(await rpcError("opengpu_getTask", [])).toEqual({
        code: -32602,
        message: "missing value for required argument 0",
      });
      expect((await rpcError("opengpu_getBids", ["0x3e8"])).code).toBe(-32001);
    });

    it("lists tasks newest first with a cursor", async () => {
      const all = await call<{ tasks: { id: string }[]; nextCursor: string | null; total: string }>(
        "opengpu_listTasks",
      );
      expect(all.total).toBe(hex(5));
      expect(all.tasks.map((t) => t.id)).toEqual([bidding, assigned, cancelled, open, settled].map(hex));
      expect(all.nextCursor).toBeNull();
      const first = await call<{ tasks: { id: string }[]; nextCursor: string | null }>("opengpu_listTasks", [
        { limit: 3 },
      ]);
      expect(first.tasks.map((t) => t.id)).toEqual([bidding, assigned, cancelled].map(hex));
      expect(first.nextCursor).toBe(hex(open));
      const second = await call<{ tasks: { id: string }[]; nextCursor: string | null }>("opengpu_listTasks", [
        { limit: "0x3", cursor: first.nextCursor },
      ]);
      expect(second.tasks.map((t) => t.id)).toEqual([open, settled].map(hex));
      expect(second.nextCursor).toBeNull();
    });

    it("filters tasks by state, client and provider, and follows new blocks", async () => {
      const ids = async (query: Record<string, unknown>) =>
        (await call<{ tasks: { id: string }[] }>("opengpu_listTasks", [query])).tasks.map((t) =>
          BigInt(t.id),
        );
      expect(await ids({ state: "Settled" })).toEqual([settled]);
      expect(await ids({ state: ["open", "Assigned"] })).toEqual([assigned, cancelled, open]);
      expect(await ids({ client: m.address(OTHER_CLIENT) })).toEqual([bidding, cancelled]);
      expect(await ids({ client: m.address(CLIENT).toUpperCase().replace("0X", "0x") })).toEqual([
        assigned,
        open,
        settled,
      ]);
      expect(await ids({ provider: providers[2].address })).toEqual([assigned]);
      expect(await ids({ state: "Open", client: m.address(CLIENT) })).toEqual([open]);
      const page = await call<{ tasks: { id: string }[]; nextCursor: string }>("opengpu_listTasks", [
        { client: m.address(CLIENT), limit: 1 },
      ]);
      expect(page.tasks.map((t) => BigInt(t.id))).toEqual([assigned]);
      expect(BigInt(page.nextCursor)).toBe(open);
      expect(await ids({ client: m.address(CLIENT), cursor: page.nextCursor })).toEqual([open, settled]);

      // The index follows the chain: a cancellation moves the task to Cancelled.
      const [r] = await m.sendAll([m.market(OTHER_CLIENT, "cancelTask", [cancelled])]);
      expect(r.status).toBe("success");
      cancelBlock = r.blockNumber;
      expect(await ids({ state: "Cancelled" })).toEqual([cancelled]);
      expect(await ids({ state: "Open" })).toEqual([open]);
      expect(await ids({ state: "Bidding" })).toEqual([bidding]);
    });

    it("refuses bad listing queries", async () => {
      expect(await rpcError("opengpu_listTasks", [{ state: "Done" }])).toEqual({
        code: -32602,
        message:
          'invalid argument 0: state: unknown task state "Done" (one of Open, Bidding, Assigned, Executed, Verifying, Settled, Reassigned, Failed, Cancelled)',
      });
      expect((await rpcError("opengpu_listTasks", [{ limit: 101 }])).message).toBe(
        "limit must be 1 to 100, got 101",
      );
      expect((await rpcError("opengpu_listTasks", [{ limit: 0 }])).code).toBe(-32602);
      expect((await rpcError("opengpu_listTasks", [{ cursor: "0x0" }])).message).toBe(
        "cursor must be a task id (1 or more)",
      );
      expect((await rpcError("opengpu_listTasks", [{ page: 2 }])).message).toBe(
        "invalid argument 0: unknown field page (fields: state, client, provider, cursor, limit)",
      );
      expect((await rpcError("opengpu_listTasks", [{ client: "0x12" }])).message).toBe(
        'invalid argument 0: client: address must be a 20-byte 0x address, got "0x12"',
      );
      expect((await rpcError("opengpu_listTasks", [[]])).message).toBe(
        "invalid argument 0: expected a query object",
      );
    });

    it("returns bids: sealed without a price, revealed with it", async () => {
      const bids = await call<Record<string, unknown>[]>("opengpu_getBids", [hex(settled)]);
      expect(bids).toHaveLength(2);
      expect(bids[1]).toMatchObject({
        provider: providers[1].address.toLowerCase(),
        revealed: true,
        price: hex(2n * OGPU),
        excluded: false,
      });
      const sealed = await call<Record<string, unknown>[]>("opengpu_getBids", [hex(bidding)]);
      expect(sealed).toEqual([
        {
          provider: providers[3].address.toLowerCase(),
          commitment: expect.stringMatching(/^0x[0-9a-f]{64}$/),
          committedAt: expect.stringMatching(/^0x[0-9a-f]+$/),
          revealed: false,
          price: null,
          excluded: false,
        },
      ]);
      expect((await call<Record<string, unknown>>("opengpu_getTask", [hex(bidding)])).state).toBe("Bidding");
    });

    it("returns providers and lists them by status", async () => {
      const p = await call<Record<string, unknown>>("opengpu_getProvider", [providers[0].address]);
      expect(p).toEqual({
        address: providers[0].address.toLowerCase(),
        status: "Active",
        statusCode: "0x1",
        stake: hex(STAKE),
        unbonding: "0x0",
        withdrawableAt: "0x0",
        blsPubkey: toHex(providers[0].key.toPublicKey().toBytes()),
        gpu: { device: "test CPU", memoryMiB: hex(1024), executionProvider: "cpu" },
        models: [],
        price: hex(OGPU),
        peerId: `peer-${providers[0].account}`,
        registeredAt: expect.stringMatching(/^0x[0-9a-f]+$/),
        jailedUntil: "0x0",
        slashed: "0x0",
      });
      const stranger = m.address(KEEPER);
      expect(await rpcError("opengpu_getProvider", [stranger])).toEqual({
        code: -32001,
        message: `provider ${stranger.toLowerCase()} is not registered`,
      });
      const listed = await call<{ providers: { address: string }[]; nextCursor: string; total: string }>(
        "opengpu_listProviders",
        [{ limit: 2 }],
      );
      expect(listed.total).toBe("0x5");
      expect(listed.providers.map((x) => x.address)).toEqual(
        providers.slice(0, 2).map((x) => x.address.toLowerCase()),
      );
      expect(listed.nextCursor).toBe("0x2");
      const rest2 = await call<{ providers: { address: string }[]; nextCursor: null }>(
        "opengpu_listProviders",
        [{ cursor: "0x2" }],
      );
      expect(rest2.providers).toHaveLength(3);
      expect(rest2.nextCursor).toBeNull();

      // Unbonding below the minimum stake makes a provider Inactive.
      const [r] = await m.sendAll([
        {
          from: providers[4].account,
          abi: PROVIDER_REGISTRY_ABI as Abi,
          to: SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
          fn: "unbond",
          args: [STAKE],
        },
      ]);
      expect(r.status).toBe("success");
      const inactive = await call<{ providers: { address: string; status: string; unbonding: string }[] }>(
        "opengpu_listProviders",
        [{ status: "Inactive" }],
      );
      expect(inactive.providers).toEqual([
        expect.objectContaining({
          address: providers[4].address.toLowerCase(),
          status: "Inactive",
          unbonding: hex(STAKE),
        }),
      ]);
      const active = await call<{ providers: unknown[]; nextCursor: string }>("opengpu_listProviders", [
        { status: ["Active"], limit: 3 },
      ]);
      expect(active.providers).toHaveLength(3);
      expect(active.nextCursor).toBe("0x3");
      expect((await rpcError("opengpu_listProviders", [{ status: "Busy" }])).code).toBe(-32602);
    });

    it("returns models and lists them", async () => {
      const model = await call<Record<string, unknown>>("opengpu_getModel", [MODEL]);
      expect(model).toEqual({
        sha256: MODEL,
        size: hex(1000),
        name: "test model",
        registrant: m.address(0).toLowerCase(),
        registeredAt: expect.stringMatching(/^0x[0-9a-f]+$/),
        inputs: [{ name: "x", dtype: "float32", dtypeCode: "0x1", dims: [1, 4] }],
        outputs: [{ name: "y", dtype: "float32", dtypeCode: "0x1", dims: [1, 2] }],
        policy: {
          kind: "tolerance",
          kindCode: "0x1",
          rtolPpb: hex(TOLERANCE_POLICY.rtolPpb),
          atolPpb: hex(10_000),
          topK: "0x1",
        },
      });
      const unknown = `0x${"ab".repeat(32)}`;
      expect(await rpcError("opengpu_getModel", [unknown])).toEqual({
        code: -32001,
        message: `model ${unknown} is not registered`,
      });
      expect((await rpcError("opengpu_getModel", ["0x1234"])).message).toBe(
        'invalid argument 0: hash must be a sha256: 0x and 64 hex digits, got "0x1234"',
      );
      const list = await call<{ models: { sha256: string }[]; total: string; nextCursor: null }>(
        "opengpu_listModels",
      );
      expect(list).toMatchObject({ total: "0x1", nextCursor: null });
      expect(list.models.map((x) => x.sha256)).toEqual([MODEL]);
    });

    it("stores and serves blobs, whole, in ranges and uploaded in parts", async () => {
      const small = randomBytes(1000);
      const hash = await call<string>("opengpu_putBlob", [toHex(small)]);
      expect(hash).toBe(sha256(small));
      expect(await call<string>("opengpu_getBlob", [hash])).toBe(toHex(small));
      expect(await call<string>("opengpu_getBlob", [hash, "0xa", "0x5"])).toBe(toHex(small.subarray(10, 15)));
      expect(await call<string>("opengpu_getBlob", [hash, "0x3e0"])).toBe(toHex(small.subarray(992)));
      expect((await rpcError("opengpu_getBlob", [hash, "0x3e0", "0x10"])).message).toBe(
        `range [992, 1008) runs past blob ${hash} (1000 bytes)`,
      );
      const missing = `0x${"cd".repeat(32)}`;
      expect(await rpcError("opengpu_getBlob", [missing])).toEqual({
        code: -32001,
        message: `blob ${missing} is not stored here and no peer is connected`,
      });
      expect((await rpcError("opengpu_putBlob", ["0x"])).message).toBe("empty blob");

      // A blob above what one call returns, uploaded in parts and read back in ranges.
      const big = randomBytes(MAX_BLOB_READ + 1000);
      const bigHash = sha256(big);
      // Hex doubles the size: 2 MiB parts stay under the 5 MiB request body limit.
      const part = 2 * 1024 * 1024;
      expect(
        await rpcError("opengpu_putBlobPart", [
          bigHash,
          hex(big.length),
          "0x10",
          toHex(big.subarray(16, 32)),
        ]),
      ).toEqual({
        code: -32602,
        message: `part at offset 16: 0 bytes of ${bigHash} received so far`,
        data: { received: 0 },
      });
      let progress: Record<string, unknown> = {};
      for (let offset = 0; offset < big.length; offset += part) {
        progress = await call("opengpu_putBlobPart", [
          bigHash,
          hex(big.length),
          hex(offset),
          toHex(big.subarray(offset, offset + part)),
        ]);
        expect(progress.received).toBe(hex(Math.min(big.length, offset + part)));
      }
      expect(progress).toEqual({
        sha256: bigHash,
        size: hex(big.length),
        received: hex(big.length),
        complete: true,
      });
      expect(await rpcError("opengpu_getBlob", [bigHash])).toEqual({
        code: -32005,
        message: `blob ${bigHash} is ${big.length} bytes, above the ${MAX_BLOB_READ} bytes one call returns: read it in ranges (offset, length)`,
        data: { size: big.length, max: MAX_BLOB_READ },
      });
      const head = await call<string>("opengpu_getBlob", [bigHash, "0x0"]);
      const tail = await call<string>("opengpu_getBlob", [bigHash, hex(MAX_BLOB_READ)]);
      expect(
        Buffer.concat([Buffer.from(head.slice(2), "hex"), Buffer.from(tail.slice(2), "hex")]).equals(big),
      ).toBe(true);
      // Stored already: a further part is answered as complete.
      expect(await call("opengpu_putBlobPart", [bigHash, hex(big.length), "0x0", "0x00"])).toMatchObject({
        complete: true,
      });

      // Parts that do not hash to the declared sha256 are refused once complete.
      const wrong = `0x${"ef".repeat(32)}`;
      await call("opengpu_putBlobPart", [wrong, "0x4", "0x0", "0x0102"]);
      expect(await rpcError("opengpu_putBlobPart", [wrong, "0x4", "0x2", "0x0304"])).toEqual({
        code: -32602,
        message: `the uploaded bytes hash to ${sha256(Uint8Array.from([1, 2, 3, 4]))}, not ${wrong}: upload them again`,
        data: { received: 0 },
      });
      expect((await rpcError("opengpu_getBlob", [wrong])).code).toBe(-32001);
      expect((await rpcError("opengpu_putBlobPart", [wrong, "0x4", "0x0", "0x0102030405"])).message).toBe(
        "part of 5 bytes at offset 0 runs past the blob's 4 bytes",
      );
    });
  });

  describe("REST /opengpu/v1", () => {
    it("serves tasks with decimal numbers, filters and cursors", async () => {
      const t = await m.task(settled);
      const one = await rest(`/opengpu/v1/tasks/${settled}`);
      expect(one.status).toBe(200);
      const data = one.body.data as Record<string, unknown>;
      expect(data).toMatchObject({
        id: settled.toString(),
        state: "Settled",
        stateCode: "6",
        deposit: t.deposit.toString(),
        price: (2n * OGPU).toString(),
        deadline: t.deadline.toString(),
        verdict: "Accept",
        provider: providers[1].address.toLowerCase(),
        policy: { kind: "tolerance", kindCode: "1", rtolPpb: "1000000", atolPpb: "10000", topK: "1" },
      });
      const list = await rest("/opengpu/v1/tasks?limit=2");
      expect((list.body.data as { id: string }[]).map((x) => x.id)).toEqual([bidding, assigned].map(String));
      expect(list.body.meta).toEqual({ total: "5", nextCursor: cancelled.toString() });
      const page2 = await rest(`/opengpu/v1/tasks?limit=2&cursor=${cancelled}`);
      expect((page2.body.data as { id: string }[]).map((x) => x.id)).toEqual([cancelled, open].map(String));
      expect(page2.body.meta).toEqual({ total: "5", nextCursor: settled.toString() });
      const filtered = await rest(`/opengpu/v1/tasks?state=Settled,Cancelled&client=${m.address(CLIENT)}`);
      expect((filtered.body.data as { id: string }[]).map((x) => x.id)).toEqual([settled.toString()]);
      const repeated = await rest("/opengpu/v1/tasks?state=Settled&state=Cancelled");
      expect((repeated.body.data as { id: string }[]).map((x) => x.id)).toEqual(
        [cancelled, settled].map(String),
      );
      const bids = await rest(`/opengpu/v1/tasks/${settled}/bids`);
      expect((bids.body.data as { price: string }[]).map((b) => b.price)).toEqual([
        (3n * OGPU).toString(),
        (2n * OGPU).toString(),
      ]);
    });

    it("answers 404 for unknown records and 400 for bad parameters", async () => {
      expect(await rest("/opengpu/v1/tasks/1000")).toEqual({
        status: 404,
        body: { code: 404, message: "task 1000 not found (tasks are 1 to 5)" },
      });
      expect(await rest("/opengpu/v1/tasks/0x5")).toEqual({
        status: 400,
        body: { code: 400, message: 'task id must be a decimal integer, got "0x5"' },
      });
      expect(await rest("/opengpu/v1/tasks?limit=500")).toEqual({
        status: 400,
        body: { code: 400, message: "limit must be 1 to 100, got 500" },
      });
      expect(await rest("/opengpu/v1/tasks?state=Done")).toMatchObject({ status: 400 });
      expect(await rest("/opengpu/v1/tasks?page=2")).toEqual({
        status: 400,
        body: {
          code: 400,
          message: 'unknown query parameter "page" (known: state, client, provider, cursor, limit)',
        },
      });
      expect(await rest("/opengpu/v1/tasks?cursor=1&cursor=2")).toEqual({
        status: 400,
        body: { code: 400, message: "query parameter cursor takes one value" },
      });
      expect(await rest(`/opengpu/v1/providers/${m.address(KEEPER)}`)).toEqual({
        status: 404,
        body: { code: 404, message: `provider ${m.address(KEEPER).toLowerCase()} is not registered` },
      });
      expect(await rest("/opengpu/v1/providers/0x1234")).toMatchObject({ status: 400 });
      expect(await rest(`/opengpu/v1/models/0x${"ab".repeat(32)}`)).toMatchObject({ status: 404 });
      expect(await rest("/opengpu/v1/models/abc")).toMatchObject({ status: 400 });
      expect(await rest("/opengpu/v1/nothing")).toMatchObject({ status: 404 });
    });

    it("serves providers and models", async () => {
      const p = await rest(`/opengpu/v1/providers/${providers[0].address}`);
      expect(p.body.data).toMatchObject({
        address: providers[0].address.toLowerCase(),
        status: "Active",
        stake: STAKE.toString(),
        gpu: { device: "test CPU", memoryMiB: "1024", executionProvider: "cpu" },
      });
      const list = await rest("/opengpu/v1/providers?status=Active&limit=10");
      expect((list.body.data as unknown[]).length).toBe(4);
      expect(list.body.meta).toEqual({ total: "5", nextCursor: null });
      const models = await rest("/opengpu/v1/models");
      expect(models.body).toEqual({
        data: [expect.objectContaining({ sha256: MODEL, size: "1000", name: "test model" })],
        meta: { total: "1", nextCursor: null },
      });
      const model = await rest(`/opengpu/v1/models/${MODEL}`);
      expect((model.body.data as { inputs: unknown[] }).inputs).toEqual([
        { name: "x", dtype: "float32", dtypeCode: "1", dims: [1, 4] },
      ]);
    });
  });

  it("exports tasks by state to Prometheus", async () => {
    const text = await (await fetch(`${dev.node.metricsUrl}/metrics`)).text();
    const value = (state: string) =>
      Number(new RegExp(`^opengpu_compute_tasks\\{state="${state}"\\} (\\d+)$`, "m").exec(text)?.[1]);
    expect(value("Settled")).toBe(1);
    expect(value("Cancelled")).toBe(1);
    expect(value("Assigned")).toBe(1);
    expect(value("Bidding")).toBe(1);
    expect(value("Open")).toBe(1);
    expect(value("Failed")).toBe(0);
  });

  it("follows the head back and forth across a reorganisation", async () => {
    const chain = dev.node.el.chain;
    const tip = chain.head;
    const before = chain.store.getBlockByNumber(cancelBlock - 1n);
    if (before === undefined) throw new Error("no block before the cancellation");
    const ids = async (state: string) =>
      (await call<{ tasks: { id: string }[] }>("opengpu_listTasks", [{ state }])).tasks.map((t) =>
        BigInt(t.id),
      );
    const metric = async (state: string) => {
      const text = await (await fetch(`${dev.node.metricsUrl}/metrics`)).text();
      return Number(new RegExp(`^opengpu_compute_tasks\\{state="${state}"\\} (\\d+)$`, "m").exec(text)?.[1]);
    };
    expect(await ids("Open")).toEqual([open]);
    // The cancellation's block leaves the canonical chain: the task is open again.
    await chain.setHead(before.hash());
    expect(await ids("Open")).toEqual([cancelled, open]);
    expect(await ids("Cancelled")).toEqual([]);
    expect(await metric("Cancelled")).toBe(0);
    expect(await metric("Open")).toBe(2);
    await chain.setHead(tip.hash());
    expect(await ids("Open")).toEqual([open]);
    expect(await ids("Cancelled")).toEqual([cancelled]);
    expect(await metric("Cancelled")).toBe(1);
  });
});
