/**
 * debug_trace* against a real dev node: hand-assembled contracts, traced with the struct logger,
 * callTracer and prestateTracer, checked against known EVM gas costs and geth's shapes.
 */
import { bytesToHex, generateAddress, generateAddress2, hexToBytes } from "@ethereumjs/util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keccak256 } from "../../node/execution/crypto.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

type Obj = Record<string, unknown>;
interface StructLog {
  pc: number;
  op: string;
  gas: number;
  gasCost: number;
  depth: number;
  stack?: string[];
  memory?: string[];
  storage?: Record<string, string>;
  refund?: number;
  error?: string;
  returnData?: string;
}
interface StructTrace {
  gas: number;
  failed: boolean;
  returnValue: string;
  structLogs: StructLog[];
}
interface CallFrame {
  type: string;
  from: string;
  to?: string;
  value?: string;
  gas: string;
  gasUsed: string;
  input: string;
  output?: string;
  error?: string;
  revertReason?: string;
  calls?: CallFrame[];
  logs?: { address: string; topics: string[]; data: string; index: string; position: string }[];
}

const word = (hex: string) => hex.replace(/^0x/, "").padStart(64, "0");
const hexNoPrefix = (hex: string) => hex.replace(/^0x/, "");

/** Init code that returns `runtime` (after running `prefix`, e.g. storage writes). */
function initCode(runtime: string, prefix = ""): string {
  const code = hexNoPrefix(runtime);
  const len = code.length / 2;
  if (len > 0xff) throw new Error("runtime too long for this helper");
  const pre = hexNoPrefix(prefix);
  const offset = pre.length / 2 + 12;
  const l = len.toString(16).padStart(2, "0");
  const o = offset.toString(16).padStart(2, "0");
  // PUSH1 len PUSH1 offset PUSH1 0 CODECOPY PUSH1 len PUSH1 0 RETURN
  return `0x${pre}60${l}60${o}60003960${l}6000f3${code}`;
}

// PUSH1 0x2a PUSH1 0 SSTORE PUSH1 0 SLOAD PUSH1 0 MSTORE PUSH1 0x20 PUSH1 0 RETURN
const STORE_PROGRAM = "602a60005560005460005260206000f3";
// PUSH1 0 PUSH1 0 SSTORE (and runs off the end of the code: geth logs an implicit STOP)
const CLEAR_PROGRAM = "6000600055";
// PUSH1 0x2a PUSH1 0 MSTORE PUSH1 0x20 PUSH1 0 RETURN
const RETURN_42 = "602a60005260206000f3";
const NOPE = `6e6f7065${"00".repeat(28)}`;
// LOG0 (cleared: the frame reverts), then revert with Error("nope")
const REVERTER =
  `60006000a0` +
  `7f08c379a0${"00".repeat(28)}600052` +
  "6020600452" +
  "6004602452" +
  `7f${NOPE}604452` +
  "60646000fd";
const TOPIC = `0x${"ab".repeat(32)}`;
/** LOG1(0x11, TOPIC); CALL reverter; STATICCALL returner; STOP */
function caller(reverter: string, returner: string): string {
  return (
    "6011600052" +
    `7f${hexNoPrefix(TOPIC)}60206000a1` +
    `6000600060006000600073${hexNoPrefix(reverter)}61fffff150` +
    `600060006000600073${hexNoPrefix(returner)}61fffffa50` +
    "00"
  );
}

describe("debug tracing JSON-RPC", () => {
  let dev: DevNodeHandle;
  let sender: string;
  let coinbase: string;
  let store: string;
  let storeTx: string;
  let clearTx: string;
  let clearContract: string;
  let reverter: string;
  let returner: string;
  let callerContract: string;
  let callerTx: string;
  let deployTx: string;

  async function send(tx: Obj): Promise<string> {
    return dev.call<string>("eth_sendTransaction", [{ from: sender, gas: "0x30d40", ...tx }]);
  }
  async function receipt(
    hash: string,
  ): Promise<{ contractAddress: string; gasUsed: string; blockNumber: string }> {
    return dev.call("eth_getTransactionReceipt", [hash]);
  }
  async function deploy(runtime: string, prefix = ""): Promise<{ address: string; hash: string }> {
    const hash = await send({ data: initCode(runtime, prefix) });
    return { address: (await receipt(hash)).contractAddress, hash };
  }

  beforeAll(async () => {
    dev = await startDevNode({ automine: true });
    sender = dev.accounts[1].address.toLowerCase();
    coinbase = dev.accounts[0].address.toLowerCase();
    const deployed = await deploy(STORE_PROGRAM);
    store = deployed.address;
    deployTx = deployed.hash;
    storeTx = await send({ to: store, gas: "0x186a0" });
    // Slot 0 starts at 0x2a (init code stores it), the program clears it.
    clearContract = (await deploy(CLEAR_PROGRAM, "602a600055")).address;
    clearTx = await send({ to: clearContract, gas: "0x186a0" });
    reverter = (await deploy(REVERTER)).address;
    returner = (await deploy(RETURN_42)).address;
    callerContract = (await deploy(caller(reverter, returner))).address;
    callerTx = await send({ to: callerContract, gas: "0x30d40" });
  });
  afterAll(async () => {
    await dev.stop();
  });

  describe("struct logger", () => {
    it("logs each opcode with geth's gas, cost, stack and storage", async () => {
      const trace = await dev.call<StructTrace>("debug_traceTransaction", [storeTx]);
      // 21000 intrinsic + 3+3 + 22100 (cold SSTORE 0 -> non-zero) + 3 + 100 (warm SLOAD) + 3 + 6 + 3+3+0
      expect(trace.gas).toBe(43_224);
      expect(trace.failed).toBe(false);
      expect(trace.returnValue).toBe(`0x${word("2a")}`);
      expect(trace.structLogs.map((l) => l.op)).toEqual([
        "PUSH1",
        "PUSH1",
        "SSTORE",
        "PUSH1",
        "SLOAD",
        "PUSH1",
        "MSTORE",
        "PUSH1",
        "PUSH1",
        "RETURN",
      ]);
      expect(trace.structLogs.map((l) => l.gasCost)).toEqual([3, 3, 22_100, 3, 100, 3, 6, 3, 3, 0]);
      expect(trace.structLogs.map((l) => l.pc)).toEqual([0, 2, 4, 5, 7, 8, 10, 11, 13, 15]);
      const [first, , sstore, , sload] = trace.structLogs;
      // 100,000 gas limit minus the 21,000 intrinsic gas
      expect(first).toEqual({ pc: 0, op: "PUSH1", gas: 79_000, gasCost: 3, depth: 1, stack: [] });
      expect(sstore).toEqual({
        pc: 4,
        op: "SSTORE",
        gas: 78_994,
        gasCost: 22_100,
        depth: 1,
        stack: ["0x2a", "0x0"],
        storage: { [word("0")]: word("2a") },
      });
      expect(sload.gas).toBe(78_994 - 22_100 - 3);
      expect(sload.stack).toEqual(["0x0"]);
      expect(sload.storage).toEqual({ [word("0")]: word("2a") });
      for (const log of trace.structLogs) {
        expect(log.memory).toBeUndefined();
        expect(log.depth).toBe(1);
      }
    });

    it("honours enableMemory, disableStack, disableStorage and limit", async () => {
      const withMemory = await dev.call<StructTrace>("debug_traceTransaction", [
        storeTx,
        { enableMemory: true, disableStack: true, disableStorage: true },
      ]);
      const logs = withMemory.structLogs;
      // memory is captured before the opcode runs: empty until after the MSTORE at pc 10
      expect(logs[6].memory).toBeUndefined();
      expect(logs[7].memory).toEqual([word("2a")]);
      expect(logs[9].memory).toEqual([word("2a")]);
      for (const log of logs) {
        expect(log.stack).toBeUndefined();
        expect(log.storage).toBeUndefined();
      }
      const limited = await dev.call<StructTrace>("debug_traceTransaction", [storeTx, { limit: 3 }]);
      expect(limited.structLogs.map((l) => l.op)).toEqual(["PUSH1", "PUSH1", "SSTORE"]);
      expect(limited.gas).toBe(43_224);
    });

    it("logs the implicit STOP at the end of code and the refund counter", async () => {
      const trace = await dev.call<StructTrace>("debug_traceTransaction", [clearTx]);
      expect(trace.structLogs.map((l) => [l.op, l.pc, l.gasCost])).toEqual([
        ["PUSH1", 0, 3],
        ["PUSH1", 2, 3],
        ["SSTORE", 4, 5_000], // cold slot, non-zero -> zero
        ["STOP", 5, 0],
      ]);
      // as in geth, the refund counter already includes the SSTORE's own refund
      expect(trace.structLogs[1].refund).toBeUndefined();
      expect(trace.structLogs[2].refund).toBe(4_800);
      expect(trace.structLogs[3].refund).toBe(4_800);
      expect(trace.structLogs[3].stack).toEqual([]);
      // 21000 + 5006 executed, minus the 4800 refund
      expect(trace.gas).toBe(21_206);
    });

    it("reports CALL costs including the gas handed over, and nested depths", async () => {
      const trace = await dev.call<StructTrace>("debug_traceTransaction", [
        callerTx,
        { enableReturnData: true },
      ]);
      const calls = trace.structLogs.filter((l) => l.op === "CALL" || l.op === "STATICCALL");
      expect(calls.map((l) => [l.op, l.depth, l.gasCost])).toEqual([
        ["CALL", 1, 2_600 + 0xffff],
        ["STATICCALL", 1, 2_600 + 0xffff],
      ]);
      const inner = trace.structLogs.filter((l) => l.depth === 2);
      expect(inner[0]).toMatchObject({ pc: 0, op: "PUSH1", gas: 0xffff, depth: 2 });
      const reverterLogs = inner.slice(0, inner.findIndex((l) => l.op === "REVERT") + 1);
      // the reverted frame used 435 gas (LOG0 375 + 60 for pushes and memory)
      expect(reverterLogs.reduce((sum, l) => sum + l.gasCost, 0)).toBe(435);
      // After the reverted CALL the caller sees the revert data as return data.
      const afterCall = trace.structLogs
        .slice(trace.structLogs.indexOf(calls[0]) + 1)
        .find((l) => l.depth === 1);
      expect(afterCall?.op).toBe("POP");
      expect(afterCall?.returnData).toBe(`0x08c379a0${word("20")}${word("4")}${NOPE}`);
      expect(trace.failed).toBe(false);
      expect(trace.returnValue).toBe("0x");
    });
  });

  describe("callTracer", () => {
    it("nests frames with geth's fields, errors and revert reasons", async () => {
      const trace = await dev.call<CallFrame>("debug_traceTransaction", [
        callerTx,
        { tracer: "callTracer", tracerConfig: { withLog: true } },
      ]);
      const r = await receipt(callerTx);
      expect(trace).toMatchObject({
        type: "CALL",
        from: sender,
        to: callerContract,
        value: "0x0",
        gas: "0x30d40",
        gasUsed: r.gasUsed,
        input: "0x",
      });
      expect(trace.error).toBeUndefined();
      expect(trace.output).toBeUndefined();
      expect(trace.logs).toEqual([
        { address: callerContract, topics: [TOPIC], data: `0x${word("11")}`, index: "0x0", position: "0x0" },
      ]);
      expect(trace.calls).toHaveLength(2);
      const [reverted, staticCall] = trace.calls ?? [];
      const revertData = `0x08c379a0${word("20")}${word("4")}${NOPE}`;
      expect(reverted).toEqual({
        from: callerContract,
        gas: "0xffff",
        gasUsed: "0x1b3",
        to: reverter,
        input: "0x",
        output: revertData,
        error: "execution reverted",
        revertReason: "nope",
        value: "0x0",
        type: "CALL",
      });
      expect(staticCall).toEqual({
        from: callerContract,
        gas: "0xffff",
        gasUsed: "0x12",
        to: returner,
        input: "0x",
        output: `0x${word("2a")}`,
        type: "STATICCALL",
      });
    });

    it("onlyTopCall drops subcalls; without withLog there are no logs", async () => {
      const trace = await dev.call<CallFrame>("debug_traceTransaction", [
        callerTx,
        { tracer: "callTracer", tracerConfig: { onlyTopCall: true } },
      ]);
      expect(trace.calls).toBeUndefined();
      expect(trace.logs).toBeUndefined();
      expect(trace.type).toBe("CALL");
    });

    it("traces a deployment as CREATE with the runtime code as output", async () => {
      const trace = await dev.call<CallFrame>("debug_traceTransaction", [deployTx, { tracer: "callTracer" }]);
      expect(trace).toMatchObject({
        type: "CREATE",
        from: sender,
        to: store,
        input: initCode(STORE_PROGRAM),
        output: `0x${STORE_PROGRAM}`,
        value: "0x0",
      });
    });
  });

  describe("frame types and failures", () => {
    const x = `0x${"51".repeat(20)}`;
    const y = `0x${"52".repeat(20)}`;
    const beneficiary = `0x${"53".repeat(20)}`;
    const traceWith = <T>(code: string, tracer?: string, extra: Obj = {}, overrides: Obj = {}) =>
      dev.call<T>("debug_traceCall", [
        { from: sender, to: x, gas: "0x186a0", ...extra },
        "latest",
        {
          ...(tracer === undefined ? {} : { tracer }),
          stateOverrides: { [x]: { code }, [y]: { code: `0x${RETURN_42}` }, ...overrides },
        },
      ]);

    it("DELEGATECALL runs from the calling contract with the caller's value", async () => {
      // DELEGATECALL(0xffff, y, 0, 0, 0, 0); STOP
      const code = `0x600060006000600073${hexNoPrefix(y)}61fffff400`;
      const trace = await traceWith<CallFrame>(code, "callTracer", { value: "0x5" });
      expect(trace.calls).toEqual([
        {
          from: x,
          gas: "0xffff",
          gasUsed: "0x12",
          to: y,
          input: "0x",
          output: `0x${word("2a")}`,
          value: "0x5",
          type: "DELEGATECALL",
        },
      ]);
    });

    it("CREATE and CREATE2 frames name the new contract", async () => {
      // CREATE(0, 0, 0); CREATE2(0, 0, 0, salt 7); STOP
      const code = "0x600060006000f050" + "6007600060006000f550" + "00";
      const trace = await traceWith<CallFrame>(code, "callTracer", {}, { [x]: { code, nonce: "0x3" } });
      const created = bytesToHex(generateAddress(hexToBytes(x as `0x${string}`), hexToBytes("0x03")));
      const created2 = bytesToHex(
        generateAddress2(hexToBytes(x as `0x${string}`), hexToBytes(`0x${word("7")}`), new Uint8Array(0)),
      );
      expect(trace.calls?.map((c) => [c.type, c.from, c.to, c.input, c.gasUsed, c.value])).toEqual([
        ["CREATE", x, created, "0x", "0x0", "0x0"],
        ["CREATE2", x, created2, "0x", "0x0", "0x0"],
      ]);
    });

    it("a call the caller cannot pay for is a failed frame that used no gas", async () => {
      // CALL(0xffff, y, value 1, args 0..4) from a contract without balance; then STOP
      const code = `0x6000600060046000600173${hexNoPrefix(y)}61fffff100`;
      const trace = await traceWith<CallFrame>(code, "callTracer");
      expect(trace.calls).toEqual([
        {
          from: x,
          gas: `0x${(0xffff + 2_300).toString(16)}`,
          gasUsed: "0x0",
          to: y,
          input: "0x00000000",
          error: "insufficient balance for transfer",
          value: "0x1",
          type: "CALL",
        },
      ]);
      expect(trace.error).toBeUndefined();
    });

    it("SELFDESTRUCT appears as a frame carrying the balance", async () => {
      const code = `0x73${hexNoPrefix(beneficiary)}ff`;
      const trace = await traceWith<CallFrame>(code, "callTracer", {}, { [x]: { code, balance: "0x64" } });
      expect(trace.calls).toEqual([
        {
          from: x,
          gas: "0x0",
          gasUsed: "0x0",
          to: beneficiary,
          input: "0x",
          value: "0x64",
          type: "SELFDESTRUCT",
        },
      ]);
    });

    it("out of gas: the failing opcode carries the error, the frame uses all its gas", async () => {
      const loop = "0x5b600056"; // JUMPDEST PUSH1 0 JUMP
      const structTrace = await traceWith<StructTrace>(loop, undefined, { gas: "0x5300" });
      expect(structTrace.failed).toBe(true);
      expect(structTrace.returnValue).toBe("0x");
      expect(structTrace.gas).toBe(0x5300);
      const last = structTrace.structLogs[structTrace.structLogs.length - 1];
      expect(last.error).toBe("out of gas");
      expect(Object.keys(last).slice(0, 6)).toEqual(["pc", "op", "gas", "gasCost", "depth", "error"]);
      expect(last.gas).toBeLessThan(last.gasCost);
      expect(structTrace.structLogs.filter((l) => l.error !== undefined)).toHaveLength(1);
      const callTrace = await traceWith<CallFrame>(loop, "callTracer", { gas: "0x5300" });
      expect(callTrace).toMatchObject({ error: "out of gas", gas: "0x5300", gasUsed: "0x5300" });
      expect(callTrace.output).toBeUndefined();
    });

    it("stack underflow and undefined opcodes use geth's messages", async () => {
      const underflow = await traceWith<StructTrace>("0x600101", undefined); // PUSH1 1 ADD
      expect(underflow.structLogs.map((l) => [l.op, l.error])).toEqual([
        ["PUSH1", undefined],
        ["ADD", "stack underflow (1 <=> 2)"],
      ]);
      // geth raises these while executing the opcode: the log entry itself has no error
      const undefinedOp = await traceWith<StructTrace>("0x600c0c", undefined); // PUSH1 0xc, opcode 0x0c
      expect(undefinedOp.structLogs[1]).toEqual({
        pc: 2,
        op: "opcode 0xc not defined",
        gas: 0x186a0 - 21_000 - 3,
        gasCost: 0,
        depth: 1,
        stack: ["0xc"],
      });
      expect((await traceWith<CallFrame>("0x0c", "callTracer")).error).toBe(
        "invalid opcode: opcode 0xc not defined",
      );
      const designated = await traceWith<StructTrace>("0xfe", undefined);
      expect(designated.structLogs).toEqual([
        { pc: 0, op: "INVALID", gas: 0x186a0 - 21_000, gasCost: 0, depth: 1, stack: [] },
      ]);
      expect((await traceWith<CallFrame>("0xfe", "callTracer")).error).toBe("invalid opcode: INVALID");
    });
  });

  describe("prestateTracer", () => {
    it("returns the touched accounts as they were before the transaction", async () => {
      const pre = await dev.call<Record<string, Obj>>("debug_traceTransaction", [
        storeTx,
        { tracer: "prestateTracer" },
      ]);
      expect(Object.keys(pre).sort()).toEqual([coinbase, sender, store].sort());
      const r = await receipt(storeTx);
      const before = BigInt(r.blockNumber) - 1n;
      const balance = await dev.call<string>("eth_getBalance", [sender, `0x${before.toString(16)}`]);
      const nonce = await dev.call<string>("eth_getTransactionCount", [sender, `0x${before.toString(16)}`]);
      expect(pre[sender]).toEqual({ balance, nonce: Number(nonce) });
      expect(pre[store]).toMatchObject({
        balance: "0x0",
        code: `0x${STORE_PROGRAM}`,
        nonce: 1,
        storage: { [`0x${word("0")}`]: `0x${word("0")}` },
      });
      expect(typeof pre[store].codeHash).toBe("string");
    });

    it("diffMode lists a created contract only in post", async () => {
      const diff = await dev.call<{ pre: Record<string, Obj>; post: Record<string, Obj> }>(
        "debug_traceTransaction",
        [deployTx, { tracer: "prestateTracer", tracerConfig: { diffMode: true } }],
      );
      expect(diff.pre[store]).toBeUndefined();
      expect(diff.post[store]).toEqual({
        code: `0x${STORE_PROGRAM}`,
        codeHash: diff.post[store].codeHash,
        nonce: 1,
      });
      expect(diff.post[store].codeHash).toBe(bytesToHex(keccak256(hexToBytes(`0x${STORE_PROGRAM}`))));
    });

    it("diffMode returns what changed, pre and post", async () => {
      const diff = await dev.call<{ pre: Record<string, Obj>; post: Record<string, Obj> }>(
        "debug_traceTransaction",
        [storeTx, { tracer: "prestateTracer", tracerConfig: { diffMode: true } }],
      );
      expect(Object.keys(diff)).toEqual(["post", "pre"]);
      // the slot was zero before: not listed in pre, set in post
      expect(diff.pre[store]).toEqual({
        balance: "0x0",
        code: `0x${STORE_PROGRAM}`,
        codeHash: diff.pre[store].codeHash,
        nonce: 1,
      });
      expect(diff.post[store]).toEqual({ storage: { [`0x${word("0")}`]: `0x${word("2a")}` } });
      const preNonce = diff.pre[sender].nonce as number;
      expect(diff.post[sender].nonce).toBe(preNonce + 1);
      expect(BigInt(diff.post[sender].balance as string)).toBeLessThan(
        BigInt(diff.pre[sender].balance as string),
      );
    });
  });

  describe("block tracing", () => {
    it("traceBlockByNumber and traceBlockByHash return [{txHash, result}]", async () => {
      const r = await receipt(storeTx);
      const byNumber = await dev.call<{ txHash: string; result: StructTrace }[]>("debug_traceBlockByNumber", [
        r.blockNumber,
      ]);
      expect(byNumber).toHaveLength(1);
      expect(byNumber[0].txHash).toBe(storeTx);
      expect(byNumber[0].result).toEqual(await dev.call("debug_traceTransaction", [storeTx]));
      const block = await dev.call<{ hash: string }>("eth_getBlockByNumber", [r.blockNumber, false]);
      const byHash = await dev.call<{ txHash: string; result: CallFrame }[]>("debug_traceBlockByHash", [
        block.hash,
        { tracer: "callTracer" },
      ]);
      expect(byHash).toEqual([
        {
          txHash: storeTx,
          result: await dev.call("debug_traceTransaction", [storeTx, { tracer: "callTracer" }]),
        },
      ]);
    });

    it("rejects genesis and unknown blocks with geth's errors", async () => {
      expect((await dev.rpc("debug_traceBlockByNumber", ["0x0"])).error).toEqual({
        code: -32000,
        message: "genesis is not traceable",
      });
      expect((await dev.rpc("debug_traceBlockByNumber", ["0xfffff"])).error).toEqual({
        code: -32000,
        message: "block #1048575 not found",
      });
      const unknown = `0x${"12".repeat(32)}`;
      expect((await dev.rpc("debug_traceBlockByHash", [unknown])).error).toEqual({
        code: -32000,
        message: `block ${unknown} not found`,
      });
    });
  });

  describe("debug_traceCall", () => {
    it("traces a call against overridden code", async () => {
      const target = `0x${"42".repeat(20)}`;
      const trace = await dev.call<StructTrace>("debug_traceCall", [
        { from: sender, to: target, gas: "0x186a0" },
        "latest",
        { stateOverrides: { [target]: { code: `0x${RETURN_42}` } } },
      ]);
      expect(trace.failed).toBe(false);
      expect(trace.returnValue).toBe(`0x${word("2a")}`);
      expect(trace.structLogs.map((l) => [l.op, l.gasCost])).toEqual([
        ["PUSH1", 3],
        ["PUSH1", 3],
        ["MSTORE", 6],
        ["PUSH1", 3],
        ["PUSH1", 3],
        ["RETURN", 0],
      ]);
      expect(trace.gas).toBe(21_018);
    });

    it("applies block overrides and runs the callTracer", async () => {
      const target = `0x${"43".repeat(20)}`;
      // NUMBER PUSH1 0 MSTORE PUSH1 0x20 PUSH1 0 RETURN
      const trace = await dev.call<CallFrame>("debug_traceCall", [
        { from: sender, to: target, gas: "0x186a0", input: "0x1234" },
        "latest",
        {
          tracer: "callTracer",
          stateOverrides: { [target]: { code: "0x4360005260206000f3" } },
          blockOverrides: { number: "0x1234" },
        },
      ]);
      expect(trace).toMatchObject({
        type: "CALL",
        from: sender,
        to: target,
        input: "0x1234",
        output: `0x${word("1234")}`,
        gas: "0x186a0",
        value: "0x0",
      });
    });

    it("runs on the state before a transaction with txIndex", async () => {
      const r = await receipt(storeTx);
      // SLOAD of slot 0: zero before the store transaction, 0x2a after its block
      const call = { from: sender, to: store, gas: "0x186a0" };
      const atBlock = await dev.call<Record<string, Obj>>("debug_traceCall", [
        call,
        r.blockNumber,
        { tracer: "prestateTracer" },
      ]);
      expect((atBlock[store].storage as Obj)[`0x${word("0")}`]).toBe(`0x${word("2a")}`);
      const beforeTx = await dev.call<Record<string, Obj>>("debug_traceCall", [
        call,
        r.blockNumber,
        { tracer: "prestateTracer", txIndex: "0x0" },
      ]);
      expect((beforeTx[store].storage as Obj)[`0x${word("0")}`]).toBe(`0x${word("0")}`);
    });

    it("stops at the timeout", async () => {
      const target = `0x${"44".repeat(20)}`;
      // JUMPDEST PUSH1 0 JUMP: loops until out of gas
      const response = await dev.rpc("debug_traceCall", [
        { from: sender, to: target, gas: "0x2faf080" },
        "latest",
        { timeout: "50ms", stateOverrides: { [target]: { code: "0x5b600056" } } },
      ]);
      expect(response.error).toEqual({ code: -32000, message: "execution timeout" });
    });

    it("refuses pending and reports failed preconditions as geth does", async () => {
      expect((await dev.rpc("debug_traceCall", [{ to: store }, "pending"])).error).toEqual({
        code: -32000,
        message: "tracing on top of pending is not supported",
      });
      const poor = `0x${"45".repeat(20)}`;
      const response = await dev.rpc("debug_traceCall", [
        { from: poor, to: store, value: "0x1", gas: "0x5208" },
        "latest",
      ]);
      expect(response.error?.code).toBe(-32000);
      expect(response.error?.message).toMatch(
        /^tracing failed: insufficient funds for gas \* price \+ value/,
      );
    });
  });

  describe("bad inputs", () => {
    it("unknown transaction hash", async () => {
      const response = await dev.rpc("debug_traceTransaction", [`0x${"00".repeat(31)}01`]);
      expect(response.error).toEqual({ code: -32000, message: "transaction not found" });
    });

    it("unknown tracer, bad timeout, bad config types", async () => {
      expect((await dev.rpc("debug_traceTransaction", [storeTx, { tracer: "noSuchTracer" }])).error).toEqual({
        code: -32000,
        message: "tracer not found",
      });
      expect((await dev.rpc("debug_traceTransaction", [storeTx, { timeout: "soon" }])).error).toEqual({
        code: -32000,
        message: 'time: invalid duration "soon"',
      });
      expect((await dev.rpc("debug_traceTransaction", [storeTx, { timeout: "5" }])).error).toEqual({
        code: -32000,
        message: 'time: missing unit in duration "5"',
      });
      expect((await dev.rpc("debug_traceTransaction", [storeTx, { tracer: 5 }])).error).toEqual({
        code: -32602,
        message:
          "invalid argument 1: json: cannot unmarshal number into Go struct field TraceConfig.tracer of type string",
      });
      expect(
        (
          await dev.rpc("debug_traceTransaction", [
            storeTx,
            { tracer: "callTracer", tracerConfig: { onlyTopCall: "yes" } },
          ])
        ).error,
      ).toEqual({
        code: -32000,
        message:
          "json: cannot unmarshal string into Go struct field callTracerConfig.onlyTopCall of type bool",
      });
      expect((await dev.rpc("debug_traceTransaction", ["0x1234"])).error?.code).toBe(-32602);
      expect((await dev.rpc("debug_traceCall", [{ to: store }])).error).toEqual({
        code: -32602,
        message: "missing value for required argument 1",
      });
    });
  });
});

describe("debug_traceBlock* with several transactions in one block", () => {
  let dev: DevNodeHandle;
  beforeAll(async () => {
    dev = await startDevNode({ automine: false, blockTime: 1 });
  });
  afterAll(async () => {
    await dev.stop();
  });

  async function mined(hash: string): Promise<{ blockNumber: string; contractAddress: string }> {
    for (;;) {
      const receipt = await dev.call<{ blockNumber: string; contractAddress: string } | null>(
        "eth_getTransactionReceipt",
        [hash],
      );
      if (receipt !== null) return receipt;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it("traces each transaction on the state the previous ones left, with block-wide log indices", async () => {
    const [, , a, b] = dev.accounts.map((x) => x.address.toLowerCase());
    // SSTORE(0, 0x2a); LOG1(0, 0, TOPIC); STOP
    const runtime = `602a600055${`7f${hexNoPrefix(TOPIC)}60006000a1`}00`;
    const deployHash = await dev.call<string>("eth_sendTransaction", [
      { from: a, data: initCode(runtime), gas: "0x30d40" },
    ]);
    const contract = (await mined(deployHash)).contractAddress;
    let hashes: string[] = [];
    let blockNumber = "";
    // Both calls must land in the same block; retry if a block boundary split them.
    for (let attempt = 0; attempt < 5; attempt++) {
      hashes = [
        await dev.call<string>("eth_sendTransaction", [{ from: a, to: contract, gas: "0x186a0" }]),
        await dev.call<string>("eth_sendTransaction", [{ from: b, to: contract, gas: "0x186a0" }]),
      ];
      const [r0, r1] = [await mined(hashes[0]), await mined(hashes[1])];
      if (r0.blockNumber === r1.blockNumber) {
        blockNumber = r0.blockNumber;
        break;
      }
    }
    expect(blockNumber).not.toBe("");
    const block = await dev.call<{ transactions: string[] }>("eth_getBlockByNumber", [blockNumber, false]);
    expect(block.transactions).toEqual(hashes);

    const structs = await dev.call<{ txHash: string; result: StructTrace }[]>("debug_traceBlockByNumber", [
      blockNumber,
    ]);
    expect(structs.map((s) => s.txHash)).toEqual(hashes);
    const sstoreCost = (t: StructTrace) => t.structLogs.find((l) => l.op === "SSTORE")?.gasCost;
    // 0 -> 0x2a in the first transaction; 0x2a -> 0x2a (cold, no-op) in the second
    expect(structs.map((s) => sstoreCost(s.result))).toEqual([22_100, 2_200]);
    expect(structs[1].result).toEqual(await dev.call("debug_traceTransaction", [hashes[1]]));

    const calls = await dev.call<{ txHash: string; result: CallFrame }[]>("debug_traceBlockByNumber", [
      blockNumber,
      { tracer: "callTracer", tracerConfig: { withLog: true } },
    ]);
    expect(calls.map((c) => c.result.logs?.map((l) => [l.address, l.index, l.position]))).toEqual([
      [[contract, "0x0", "0x0"]],
      [[contract, "0x1", "0x0"]],
    ]);
    expect(calls[1].result).toEqual(
      await dev.call("debug_traceTransaction", [
        hashes[1],
        { tracer: "callTracer", tracerConfig: { withLog: true } },
      ]),
    );
  });
});
