/**
 * geth's default tracer, the struct (opcode) logger: one entry per executed opcode with the
 * gas before it, its cost, the call depth, and optionally the stack, memory, return data and
 * the storage slots the contract touched through SLOAD/SSTORE.
 *
 *   { gas, failed, returnValue, structLogs: [{ pc, op, gas, gasCost, depth, error?, stack?,
 *     returnData?, memory?, storage?, refund? }] }
 *
 * Formats follow geth's legacy JSON: stack items are hex quantities, memory is a list of
 * 32-byte words and storage a map of 32-byte words, both hex without a 0x prefix.
 */
import { bigIntToHex, bytesToHex } from "@ethereumjs/util";
import {
  type FrameExit,
  Op,
  type OpcodeStep,
  type StateReader,
  type TraceJson,
  type Tracer,
  type TxEnd,
  word32,
} from "./hooks.ts";

export interface StructLoggerConfig {
  enableMemory: boolean;
  disableStack: boolean;
  disableStorage: boolean;
  enableReturnData: boolean;
  /** Most entries recorded; 0 means no limit. */
  limit: number;
}

export const DEFAULT_STRUCT_LOGGER_CONFIG: StructLoggerConfig = {
  enableMemory: false,
  disableStack: false,
  disableStorage: false,
  enableReturnData: false,
  limit: 0,
};

type Entry = { [key: string]: TraceJson };

const hexWord = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** Memory as geth's legacy JSON lists it: 32-byte words, the last one zero-padded. */
function memoryWords(memory: Uint8Array): string[] {
  const words: string[] = [];
  for (let i = 0; i < memory.length; i += 32) {
    words.push(hexWord(memory.subarray(i, i + 32)).padEnd(64, "0"));
  }
  return words;
}

export class StructLogger implements Tracer {
  private readonly config: StructLoggerConfig;
  private readonly logs: Entry[] = [];
  /** Per contract (lowercase hex address), the slots seen so far: slot hex → value hex. */
  private readonly storage = new Map<string, Map<string, string>>();
  /** The entry of the latest opcode at each depth, if it was recorded. */
  private readonly latestAtDepth = new Map<number, Entry | undefined>();
  private output: Uint8Array = new Uint8Array(0);
  private error: string | undefined;
  private gasUsed = 0n;

  constructor(config: StructLoggerConfig = DEFAULT_STRUCT_LOGGER_CONFIG) {
    this.config = config;
  }

  async onOpcode(step: OpcodeStep, state: StateReader): Promise<void> {
    if (this.config.limit !== 0 && this.logs.length >= this.config.limit) {
      this.latestAtDepth.set(step.depth, undefined);
      return;
    }
    const entry: Entry = {
      pc: step.pc,
      op: step.opName,
      gas: Number(step.gas),
      gasCost: Number(step.cost),
      depth: step.depth,
    };
    if (!this.config.disableStack) entry.stack = step.stack.map((v) => bigIntToHex(v));
    if (this.config.enableReturnData && step.returnData.length > 0)
      entry.returnData = bytesToHex(step.returnData);
    if (this.config.enableMemory && step.memory.length > 0) entry.memory = memoryWords(step.memory);
    const storage = this.config.disableStorage ? undefined : await this.touchStorage(step, state);
    if (storage !== undefined) entry.storage = storage;
    if (step.refund > 0n) entry.refund = Number(step.refund);
    this.logs.push(entry);
    this.latestAtDepth.set(step.depth, entry);
  }

  /** Records the slot an SLOAD/SSTORE touches; returns the contract's slots seen so far. */
  private async touchStorage(step: OpcodeStep, state: StateReader): Promise<Entry | undefined> {
    const { stack } = step;
    const n = stack.length;
    let slot: Uint8Array;
    let value: Uint8Array;
    if (step.op === Op.SLOAD && n >= 1) {
      slot = word32(stack[n - 1]);
      value = await state.storage(step.address, slot);
    } else if (step.op === Op.SSTORE && n >= 2) {
      slot = word32(stack[n - 1]);
      value = word32(stack[n - 2]);
    } else {
      return undefined;
    }
    const key = step.address.toString();
    let slots = this.storage.get(key);
    if (slots === undefined) {
      slots = new Map();
      this.storage.set(key, slots);
    }
    slots.set(hexWord(slot), hexWord(value));
    const out: Entry = {};
    for (const k of [...slots.keys()].sort()) out[k] = slots.get(k) ?? "";
    return out;
  }

  onFault(depth: number, error: string): void {
    const entry = this.latestAtDepth.get(depth);
    if (entry !== undefined) entry.error = error;
  }

  onExit(frame: FrameExit): void {
    if (frame.depth !== 0) return;
    this.output = frame.output;
    this.error = frame.error;
  }

  async onTxEnd(end: TxEnd): Promise<void> {
    this.gasUsed = end.gasUsed;
  }

  result(): TraceJson {
    const failed = this.error !== undefined;
    // The return data when successful, the revert data when reverted, otherwise nothing.
    const returnValue = failed && this.error !== "execution reverted" ? new Uint8Array(0) : this.output;
    return {
      gas: Number(this.gasUsed),
      failed,
      returnValue: bytesToHex(returnValue),
      structLogs: this.logs.map(orderEntry),
    };
  }
}

/** Puts an entry's fields in geth's order (error is set after the entry is built). */
function orderEntry(e: Entry): Entry {
  if (e.error === undefined) return e;
  const { pc, op, gas, gasCost, depth, error, ...rest } = e;
  return { pc, op, gas, gasCost, depth, error, ...rest };
}
