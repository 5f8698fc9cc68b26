/**
 * geth's `callTracer`: the tree of call frames a transaction opened, each with its type,
 * endpoints, gas, input and output, error and decoded revert reason, and (with `withLog`) the
 * logs it emitted with their position among the frame's subcalls and their index in the block.
 *
 *   { type, from, to?, value?, gas, gasUsed, input, output?, error?, revertReason?, calls?, logs? }
 *
 * Config: `onlyTopCall` (only the transaction's own frame) and `withLog`.
 */
import { type Address, bigIntToHex, bytesToHex } from "@ethereumjs/util";
import { decodeFlags } from "./errors.ts";
import type {
  EmittedLog,
  FrameEnter,
  FrameExit,
  FrameType,
  TraceJson,
  Tracer,
  TxEnd,
  TxStart,
} from "./hooks.ts";

export interface CallTracerConfig {
  onlyTopCall: boolean;
  withLog: boolean;
}

export function decodeCallTracerConfig(raw: unknown): CallTracerConfig {
  return decodeFlags(raw, "native.callTracerConfig", ["onlyTopCall", "withLog"] as const);
}

interface CallLog {
  address: Address;
  topics: Uint8Array[];
  data: Uint8Array;
  /** Order of emission within the transaction. */
  seq: number;
  /** Number of subcalls the frame had made when the log was emitted. */
  position: number;
  /** Index in the block, assigned once the transaction is done. */
  index: number;
}

interface CallFrame {
  type: FrameType;
  from: Address;
  to?: Address;
  gas: bigint;
  gasUsed: bigint;
  input: Uint8Array;
  output?: Uint8Array;
  error?: string;
  revertReason?: string;
  calls: CallFrame[];
  logs: CallLog[];
  value?: bigint;
  /** The frame failed and its state changes were reverted. */
  reverted: boolean;
}

const PANIC_REASONS: Record<number, string> = {
  0: "generic panic",
  1: "assert(false)",
  17: "arithmetic underflow or overflow",
  18: "division or modulo by zero",
  33: "enum overflow",
  34: "invalid encoded storage byte array accessed",
  49: "out-of-bounds array access; popping on an empty array",
  50: "out-of-bounds access of an array or bytesN",
  65: "out of memory",
  81: "uninitialized function",
};

const wordAt = (data: Uint8Array, offset: number): bigint | undefined =>
  offset + 32 <= data.length ? BigInt(bytesToHex(data.subarray(offset, offset + 32))) : undefined;

/** Decodes `Error(string)` and `Panic(uint256)` revert data as geth's abi.UnpackRevert does. */
export function unpackRevert(output: Uint8Array): string | undefined {
  if (output.length < 4) return undefined;
  const selector = bytesToHex(output.subarray(0, 4));
  const body = output.subarray(4);
  if (selector === "0x08c379a0") {
    const offset = wordAt(body, 0);
    if (offset === undefined || offset > BigInt(body.length) - 32n) return undefined;
    const length = wordAt(body, Number(offset));
    const start = Number(offset) + 32;
    if (length === undefined || length > BigInt(body.length - start)) return undefined;
    return new TextDecoder("utf-8", { fatal: false }).decode(body.subarray(start, start + Number(length)));
  }
  if (selector === "0x4e487b71") {
    const code = wordAt(body, 0);
    if (code === undefined) return undefined;
    const reason = code < 0x100n ? PANIC_REASONS[Number(code)] : undefined;
    return reason ?? `unknown panic code: ${bigIntToHex(code)}`;
  }
  return undefined;
}

export class CallTracer implements Tracer {
  private readonly config: CallTracerConfig;
  private readonly stack: CallFrame[] = [];
  private root: CallFrame | undefined;
  private gasLimit = 0n;
  private logIndexBase = 0;
  private logSeq = 0;

  constructor(config: CallTracerConfig = { onlyTopCall: false, withLog: false }) {
    this.config = config;
  }

  async onTxStart(tx: TxStart): Promise<void> {
    this.gasLimit = tx.gasLimit;
    this.logIndexBase = tx.logIndexBase;
  }

  onEnter(frame: FrameEnter): void {
    const call: CallFrame = {
      type: frame.type,
      from: frame.from,
      to: frame.to,
      gas: frame.depth === 0 ? this.gasLimit : frame.gas,
      gasUsed: 0n,
      input: frame.input,
      calls: [],
      logs: [],
      value: frame.value,
      reverted: false,
    };
    if (frame.depth === 0) this.root = call;
    this.stack.push(call);
  }

  onExit(frame: FrameExit): void {
    const call = this.stack.pop();
    if (call === undefined) return;
    call.gasUsed = frame.gasUsed;
    processOutput(call, frame);
    this.stack[this.stack.length - 1]?.calls.push(call);
  }

  onLog(log: EmittedLog): void {
    const frame = this.stack[this.stack.length - 1];
    if (frame === undefined) return;
    frame.logs.push({ ...log, seq: this.logSeq++, position: frame.calls.length, index: 0 });
  }

  async onTxEnd(end: TxEnd): Promise<void> {
    if (this.root === undefined) return;
    this.root.gasUsed = end.gasUsed;
    // Logs of reverted frames never made it into the receipt; the others are numbered in order.
    const kept: CallLog[] = [];
    clearFailedLogs(this.root, false, kept);
    kept.sort((a, b) => a.seq - b.seq);
    kept.forEach((log, i) => {
      log.index = this.logIndexBase + i;
    });
  }

  result(): TraceJson {
    if (this.root === undefined) throw new Error("incorrect number of top-level calls");
    return this.frameJson(this.root, true);
  }

  private frameJson(f: CallFrame, top: boolean): TraceJson {
    const out: { [key: string]: TraceJson } = {
      from: f.from.toString(),
      gas: bigIntToHex(f.gas),
      gasUsed: bigIntToHex(f.gasUsed),
    };
    if (f.to !== undefined) out.to = f.to.toString();
    out.input = bytesToHex(f.input);
    if (f.output !== undefined && f.output.length > 0) out.output = bytesToHex(f.output);
    if (f.error !== undefined) out.error = f.error;
    if (f.revertReason !== undefined && f.revertReason !== "") out.revertReason = f.revertReason;
    const onlyTop = this.config.onlyTopCall;
    if (!onlyTop && f.calls.length > 0) out.calls = f.calls.map((c) => this.frameJson(c, false));
    if (this.config.withLog && (top || !onlyTop) && f.logs.length > 0) {
      out.logs = f.logs.map((l) => ({
        address: l.address.toString(),
        topics: l.topics.map((t) => bytesToHex(t)),
        data: bytesToHex(l.data),
        index: bigIntToHex(BigInt(l.index)),
        // With onlyTopCall geth never records subcalls, so every log sits at position 0.
        position: bigIntToHex(BigInt(onlyTop ? 0 : l.position)),
      }));
    }
    if (f.value !== undefined) out.value = bigIntToHex(f.value);
    out.type = f.type;
    return out;
  }
}

/** geth's callFrame.processOutput. */
function processOutput(call: CallFrame, frame: FrameExit): void {
  if (frame.error === undefined || !frame.reverted) {
    call.output = frame.output;
    return;
  }
  call.error = frame.error;
  call.reverted = true;
  if (call.type === "CREATE" || call.type === "CREATE2") call.to = undefined;
  if (frame.error !== "execution reverted" || frame.output.length === 0) return;
  call.output = frame.output;
  call.revertReason = unpackRevert(frame.output);
}

function clearFailedLogs(frame: CallFrame, parentFailed: boolean, kept: CallLog[]): void {
  const failed = (frame.error !== undefined && frame.reverted) || parentFailed;
  if (failed) frame.logs = [];
  else kept.push(...frame.logs);
  for (const call of frame.calls) clearFailedLogs(call, failed, kept);
}
