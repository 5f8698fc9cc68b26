/**
 * The tracer hook interface and its adapter onto ethereumjs' EVM events.
 *
 * Tracers are written against geth's hooks (OnTxStart, OnEnter, OnExit, OnOpcode, OnLog,
 * OnTxEnd) with geth's numbers and names; `attachTracer` derives those from the events the
 * ethereumjs EVM emits (`beforeMessage`, `afterMessage`, `step`) and smooths over where the
 * two EVMs report differently:
 *
 *   - frame type and endpoints come from the opcode that opened the frame (a CALL inside a
 *     static context is still a CALL; DELEGATECALL runs from the calling contract);
 *   - a CALL-family step's cost includes the gas handed to the callee, as geth reports it;
 *   - code that runs off its end gets the implicit STOP step geth logs;
 *   - LOGn and SELFDESTRUCT become `onLog` and a SELFDESTRUCT frame, as geth emits them;
 *   - a call the EVM refuses without entering it (depth limit, unaffordable value) still gets
 *     the failed frame geth reports;
 *   - EVM errors carry geth's wording ("execution reverted", "stack underflow (0 <=> 2)", ...),
 *     and opcodes that fail before executing are reported through `onFault`.
 */
import type { EVMResult, InterpreterStep, Message } from "@ethereumjs/evm";
import {
  Address,
  bigIntToBytes,
  generateAddress,
  generateAddress2,
  KECCAK256_NULL,
  setLengthLeft,
} from "@ethereumjs/util";
import type { VM } from "@ethereumjs/vm";

/** A JSON value, as tracers return it. */
export type TraceJson = string | number | boolean | null | TraceJson[] | { [key: string]: TraceJson };

/** geth's frame types (the opcode that opened the frame). */
export type FrameType =
  | "CALL"
  | "CALLCODE"
  | "DELEGATECALL"
  | "STATICCALL"
  | "CREATE"
  | "CREATE2"
  | "SELFDESTRUCT";

/** Reads state as the EVM sees it when the hook runs. */
export interface StateReader {
  balance(address: Address): Promise<bigint>;
  nonce(address: Address): Promise<bigint>;
  code(address: Address): Promise<Uint8Array>;
  /** Undefined for accounts without code (and for missing accounts). */
  codeHash(address: Address): Promise<Uint8Array | undefined>;
  /** The 32-byte value of a slot. */
  storage(address: Address, slot: Uint8Array): Promise<Uint8Array>;
}

export interface TxStart {
  from: Address;
  /** The recipient, or for a contract creation the address the contract gets. */
  to: Address;
  isCreate: boolean;
  gasLimit: bigint;
  coinbase: Address;
  /** EIP-7702 authorities named by the transaction. */
  authorities: Address[];
  /** Logs emitted by the block's earlier transactions (base of log indices). */
  logIndexBase: number;
  /** EIP-6780 (SELFDESTRUCT only deletes same-transaction contracts) is active. */
  eip6780: boolean;
  /** EIP-7702 (delegated code) is active. */
  eip7702: boolean;
}

export interface TxEnd {
  /** Gas used as the receipt reports it (after refunds). */
  gasUsed: bigint;
}

export interface FrameEnter {
  /** 0 for the transaction's own frame. */
  depth: number;
  type: FrameType;
  from: Address;
  to: Address;
  input: Uint8Array;
  gas: bigint;
  /** Absent for STATICCALL (geth passes no value). */
  value?: bigint;
}

export interface FrameExit {
  depth: number;
  output: Uint8Array;
  gasUsed: bigint;
  /** geth's error message, if the frame failed. */
  error?: string;
  reverted: boolean;
}

export interface OpcodeStep {
  pc: number;
  op: number;
  /** geth's opcode name. */
  opName: string;
  /** Gas left before the opcode. */
  gas: bigint;
  /** The opcode's cost as geth reports it. */
  cost: bigint;
  /** 1 for the transaction's own frame, as geth counts. */
  depth: number;
  /** Bottom first. */
  stack: readonly bigint[];
  /** Memory before the opcode runs. */
  memory: Uint8Array;
  /** The account whose storage the code runs against. */
  address: Address;
  /** Return data of the frame's last call. */
  returnData: Uint8Array;
  /** The transaction's refund counter. */
  refund: bigint;
}

export interface EmittedLog {
  address: Address;
  topics: Uint8Array[];
  data: Uint8Array;
}

/** What a tracer implements; every hook is optional except `result`. */
export interface Tracer {
  onTxStart?(tx: TxStart, state: StateReader): Promise<void>;
  onTxEnd?(end: TxEnd, state: StateReader): Promise<void>;
  onEnter?(frame: FrameEnter): void;
  onExit?(frame: FrameExit): void;
  onOpcode?(step: OpcodeStep, state: StateReader): Promise<void> | void;
  /** The last opcode reported at `depth` failed before it executed (geth logs the error on it). */
  onFault?(depth: number, error: string): void;
  onLog?(log: EmittedLog): void;
  result(): TraceJson;
}

// --- opcodes --------------------------------------------------------------------------------

export const Op = {
  STOP: 0x00,
  BALANCE: 0x31,
  EXTCODESIZE: 0x3b,
  EXTCODECOPY: 0x3c,
  EXTCODEHASH: 0x3f,
  SLOAD: 0x54,
  SSTORE: 0x55,
  LOG0: 0xa0,
  LOG4: 0xa4,
  CREATE: 0xf0,
  CALL: 0xf1,
  CALLCODE: 0xf2,
  RETURN: 0xf3,
  DELEGATECALL: 0xf4,
  CREATE2: 0xf5,
  STATICCALL: 0xfa,
  REVERT: 0xfd,
  INVALID: 0xfe,
  SELFDESTRUCT: 0xff,
} as const;

const CALL_TYPES: Record<number, FrameType> = {
  [Op.CALL]: "CALL",
  [Op.CALLCODE]: "CALLCODE",
  [Op.DELEGATECALL]: "DELEGATECALL",
  [Op.STATICCALL]: "STATICCALL",
  [Op.CREATE]: "CREATE",
  [Op.CREATE2]: "CREATE2",
};

const HALTING = new Set<number>([Op.STOP, Op.RETURN, Op.REVERT, Op.SELFDESTRUCT]);

/** Stack inputs and outputs of an opcode (geth's minStack / maxStack come from these). */
function stackIO(op: number): [inputs: number, outputs: number] {
  if (op >= 0x60 && op <= 0x7f) return [0, 1]; // PUSHn
  if (op >= 0x80 && op <= 0x8f) return [op - 0x7f, op - 0x7e]; // DUPn
  if (op >= 0x90 && op <= 0x9f) return [op - 0x8e, op - 0x8e]; // SWAPn
  if (op >= Op.LOG0 && op <= Op.LOG4) return [op - Op.LOG0 + 2, 0];
  switch (op) {
    case 0x08: // ADDMOD
    case 0x09: // MULMOD
      return [3, 1];
    case 0x15: // ISZERO
    case 0x19: // NOT
    case 0x1e: // CLZ
    case 0x31: // BALANCE
    case 0x35: // CALLDATALOAD
    case 0x3b: // EXTCODESIZE
    case 0x3f: // EXTCODEHASH
    case 0x40: // BLOCKHASH
    case 0x49: // BLOBHASH
    case 0x51: // MLOAD
    case 0x54: // SLOAD
    case 0x5c: // TLOAD
      return [1, 1];
    case 0x37: // CALLDATACOPY
    case 0x39: // CODECOPY
    case 0x3e: // RETURNDATACOPY
    case 0x5e: // MCOPY
      return [3, 0];
    case 0x3c: // EXTCODECOPY
      return [4, 0];
    case 0x50: // POP
    case 0x56: // JUMP
    case 0xff: // SELFDESTRUCT
      return [1, 0];
    case 0x52: // MSTORE
    case 0x53: // MSTORE8
    case 0x55: // SSTORE
    case 0x57: // JUMPI
    case 0x5d: // TSTORE
    case 0xf3: // RETURN
    case 0xfd: // REVERT
      return [2, 0];
    case 0xf0: // CREATE
      return [3, 1];
    case 0xf1: // CALL
    case 0xf2: // CALLCODE
      return [7, 1];
    case 0xf4: // DELEGATECALL
    case 0xfa: // STATICCALL
      return [6, 1];
    case 0xf5: // CREATE2
      return [4, 1];
    case 0x00: // STOP
    case 0x5b: // JUMPDEST
    case 0xfe: // INVALID
      return [0, 0];
  }
  if ((op >= 0x01 && op <= 0x0b) || (op >= 0x10 && op <= 0x1d) || op === 0x20) return [2, 1];
  return [0, 1]; // environment and block getters (ADDRESS, CALLER, GAS, ...)
}

/** geth's name for an opcode ("opcode 0xc not defined" for unassigned ones). */
function gethOpName(name: string, op: number): string {
  if (name === "INVALID" && op !== Op.INVALID) return `opcode 0x${op.toString(16)} not defined`;
  return name;
}

export interface LastStep {
  op: number;
  opName: string;
  stackLen: number;
}

/** ethereumjs' EVM error, in geth's words. */
export function gethError(error: string, last?: LastStep): string {
  switch (error) {
    case "revert":
      return "execution reverted";
    case "out of gas":
      return "out of gas";
    case "code store out of gas":
      return "contract creation code storage out of gas";
    case "code size to deposit exceeds maximum code size":
      return "max code size exceeded";
    case "initcode exceeds max initcode size":
      return "max initcode size exceeded";
    case "invalid bytecode deployed":
      return "invalid code: must not begin with 0xef";
    case "invalid JUMP":
      return "invalid jump destination";
    case "static state change":
      return "write protection";
    case "create collision":
      return "contract address collision";
    case "insufficient balance":
      return "insufficient balance for transfer";
    case "value out of range":
      return "gas uint64 overflow";
    case "invalid opcode":
      return `invalid opcode: ${last?.opName ?? "INVALID"}`;
    case "stack underflow": {
      if (last === undefined) return "stack underflow";
      return `stack underflow (${last.stackLen} <=> ${stackIO(last.op)[0]})`;
    }
    case "stack overflow": {
      if (last === undefined) return "stack overflow";
      const [inputs, outputs] = stackIO(last.op);
      return `stack limit reached ${last.stackLen} (${1024 + inputs - outputs})`;
    }
    default:
      return error;
  }
}

/**
 * Errors geth raises before logging the opcode, so the opcode's log entry carries them; the
 * others (invalid opcode, invalid jump, write protection, ...) surface while it executes.
 */
const PRE_EXECUTION_ERRORS = new Set([
  "out of gas",
  "stack underflow",
  "stack overflow",
  "value out of range",
]);

// --- helpers --------------------------------------------------------------------------------

const EMPTY = new Uint8Array(0);
const CALL_STIPEND = 2_300n;
/** Most memory a hook copies for one opcode (32 MiB of memory costs ~2^31 gas). */
export const MAX_READ = 1n << 25n;

/** The 20 low bytes of a stack word as an address. */
export function stackAddress(word: bigint): Address {
  return new Address(setLengthLeft(bigIntToBytes(word & ((1n << 160n) - 1n)), 20));
}

/** A stack word as 32 bytes. */
export function word32(value: bigint): Uint8Array {
  return setLengthLeft(bigIntToBytes(value), 32);
}

/** `size` bytes of memory from `offset`, zero-padded past its end (geth's GetMemoryCopyPadded). */
export function memorySlice(memory: Uint8Array, offset: bigint, size: bigint): Uint8Array {
  const out = new Uint8Array(Number(size));
  if (offset < BigInt(memory.length)) {
    const start = Number(offset);
    out.set(memory.subarray(start, Math.min(memory.length, start + out.length)));
  }
  return out;
}

/** The address CREATE gives a contract deployed by `from` at `nonce`. */
export function createAddress(from: Address, nonce: bigint): Address {
  return new Address(generateAddress(from.bytes, bigIntToBytes(nonce)));
}

/** The EIP-7702 delegation target in `code`, if it is a delegation designator. */
export function delegationTarget(code: Uint8Array): Address | undefined {
  if (code.length !== 23 || code[0] !== 0xef || code[1] !== 0x01 || code[2] !== 0x00) return undefined;
  return new Address(code.slice(3));
}

export function stateReader(vm: VM): StateReader {
  const sm = vm.stateManager;
  return {
    balance: async (a) => (await sm.getAccount(a))?.balance ?? 0n,
    nonce: async (a) => (await sm.getAccount(a))?.nonce ?? 0n,
    code: (a) => sm.getCode(a),
    codeHash: async (a) => {
      const account = await sm.getAccount(a);
      if (account === undefined) return undefined;
      return account.codeHash.every((b, i) => b === KECCAK256_NULL[i]) ? undefined : account.codeHash;
    },
    storage: async (a, slot) => setLengthLeft(await sm.getStorage(a, slot), 32),
  };
}

// --- the adapter ----------------------------------------------------------------------------

interface OpenFrame {
  depth: number;
  type: FrameType;
  /** Storage context of the frame's code. */
  address: Address;
  returnData: Uint8Array;
  /** Value the frame was called with (DELEGATECALL passes it on). */
  value: bigint;
  /** Init code, for creations (their code is not in the state). */
  initCode?: Uint8Array;
  last?: LastStep;
  selfdestruct?: { beneficiary: Address; value: bigint };
  /** A call the EVM refused before entering it (reported once the CALL opcode completed). */
  refused?: FrameEnter & { error: string };
}

/** Declared with two parameters so the EVM awaits it (it checks the listener's arity). */
type Listener<T> = (data: T, resolve?: () => void) => void;

/**
 * The frame geth reports for a CALL-family opcode the EVM will refuse without entering the
 * callee (call depth 1024 reached, or a value the caller cannot pay), or undefined.
 */
function refusedCall(
  event: InterpreterStep,
  op: number,
  forwarded: bigint,
  frameValue: bigint,
): (FrameEnter & { error: string }) | undefined {
  const { stack } = event;
  const n = stack.length;
  const withValue = op === Op.CALL || op === Op.CALLCODE;
  if (n < (withValue ? 7 : 6)) return undefined;
  const value = withValue ? stack[n - 3] : 0n;
  let error: string;
  if (event.depth >= 1024) error = "max call depth exceeded";
  else if (withValue && value > event.account.balance) error = "insufficient balance for transfer";
  else return undefined;
  const argsOffset = stack[n - (withValue ? 4 : 3)];
  const argsSize = stack[n - (withValue ? 5 : 4)];
  const input =
    argsSize > MAX_READ || argsOffset > MAX_READ ? EMPTY : memorySlice(event.memory, argsOffset, argsSize);
  const type = CALL_TYPES[op];
  return {
    depth: event.depth + 1,
    type,
    from: event.address,
    to: stackAddress(stack[n - 2]),
    input,
    gas: forwarded + (withValue && value > 0n ? CALL_STIPEND : 0n),
    value: op === Op.STATICCALL ? undefined : op === Op.DELEGATECALL ? frameValue : value,
    error,
  };
}

/** A tracer subscribed to a VM. */
export interface AttachedTracer {
  /** Unsubscribes the tracer. */
  detach(): void;
  /** The first error a hook threw (hooks run inside EVM events, which cannot carry it). */
  failure(): unknown;
}

/**
 * Subscribes `tracer` to `vm`'s EVM events. Transaction start and end are reported by whoever
 * runs the transaction.
 */
export function attachTracer(vm: VM, tracer: Tracer): AttachedTracer {
  const events = vm.evm.events;
  if (events === undefined) throw new Error("EVM does not emit events");
  const state = stateReader(vm);
  const frames: OpenFrame[] = [];
  let failure: unknown;
  // Listeners taking `resolve` are awaited by the EVM, so they may read state.
  const guard =
    <T>(fn: (data: T) => Promise<void>): Listener<T> =>
    (data, resolve) => {
      fn(data).then(
        () => resolve?.(),
        (err: unknown) => {
          failure ??= err;
          resolve?.();
        },
      );
    };

  /** Reports a call the EVM refused to enter as geth does: a frame that failed with no gas used. */
  const flushRefused = (frame: OpenFrame | undefined) => {
    const refused = frame?.refused;
    if (frame === undefined || refused === undefined) return;
    frame.refused = undefined;
    const { error, ...enter } = refused;
    tracer.onEnter?.(enter);
    tracer.onExit?.({ depth: enter.depth, output: EMPTY, gasUsed: 0n, error, reverted: true });
  };

  const onStep = guard<InterpreterStep>(async (event) => {
    const frame = frames[frames.length - 1];
    flushRefused(frame);
    let op = event.opcode.code;
    if (event.opcode.name === "INVALID") {
      // ethereumjs reports every undefined opcode as INVALID (0xfe); geth names the byte.
      const code = frame?.initCode ?? (await state.code(event.codeAddress));
      op = code[event.pc] ?? Op.INVALID;
    }
    const opName = gethOpName(event.opcode.name, op);
    const stack = event.stack;
    let cost = event.opcode.dynamicFee ?? BigInt(event.opcode.fee);
    const isCall = op === Op.CALL || op === Op.CALLCODE || op === Op.DELEGATECALL || op === Op.STATICCALL;
    if (isCall) {
      // geth counts the gas handed to the callee (EIP-150: all but 1/64 of what is left) in the cost.
      const available = event.gasLeft - cost;
      if (available >= 0n && stack.length > 0) {
        const cap = available - available / 64n;
        const requested = stack[stack.length - 1];
        const forwarded = requested < cap ? requested : cap;
        cost += forwarded;
        if (frame !== undefined) frame.refused = refusedCall(event, op, forwarded, frame.value);
      }
    }
    if (frame !== undefined) frame.last = { op, opName, stackLen: stack.length };
    await tracer.onOpcode?.(
      {
        pc: event.pc,
        op,
        opName,
        gas: event.gasLeft,
        cost,
        depth: event.depth + 1,
        stack,
        memory: event.memory,
        address: event.address,
        returnData: frame?.returnData ?? EMPTY,
        refund: event.gasRefund,
      },
      state,
    );
    if (frame !== undefined && CALL_TYPES[op] !== undefined) frame.returnData = EMPTY;
    if (op >= Op.LOG0 && op <= Op.LOG4 && tracer.onLog !== undefined) {
      const topicCount = op - Op.LOG0;
      const n = stack.length;
      if (n < topicCount + 2) return;
      const offset = stack[n - 1];
      const size = stack[n - 2];
      // A log that large cannot be paid for (8 gas a byte plus memory): the opcode fails.
      if (size * 8n > event.gasLeft || size > MAX_READ || offset > MAX_READ) return;
      const topics: Uint8Array[] = [];
      for (let i = 0; i < topicCount; i++) topics.push(word32(stack[n - 3 - i]));
      tracer.onLog({ address: event.address, topics, data: memorySlice(event.memory, offset, size) });
    } else if (op === Op.SELFDESTRUCT && frame !== undefined && stack.length > 0) {
      frame.selfdestruct = {
        beneficiary: stackAddress(stack[stack.length - 1]),
        value: await state.balance(event.address),
      };
    }
  });

  const onBeforeMessage = guard<Message>(async (message) => {
    const depth = message.depth;
    const parent = frames[frames.length - 1];
    let type: FrameType;
    if (depth === 0 || parent?.last === undefined) type = message.to === undefined ? "CREATE" : "CALL";
    else type = CALL_TYPES[parent.last.op] ?? (message.to === undefined ? "CREATE" : "CALL");
    let from = message.caller;
    let to: Address;
    let address: Address;
    if (type === "CREATE" || type === "CREATE2" || message.to === undefined) {
      if (message.salt !== undefined) {
        to = new Address(generateAddress2(message.caller.bytes, message.salt, message.data));
      } else {
        // The creator's nonce was already incremented for this creation.
        to = createAddress(message.caller, (await state.nonce(message.caller)) - 1n);
      }
      address = to;
    } else if (type === "DELEGATECALL") {
      from = message.to;
      to = message.codeAddress;
      address = message.to;
    } else if (type === "CALLCODE") {
      to = message.codeAddress;
      address = message.to;
    } else {
      to = message.to;
      address = message.to;
    }
    const initCode = message.to === undefined ? message.data : undefined;
    if (parent !== undefined) parent.refused = undefined; // the call was entered after all
    frames.push({ depth, type, address, value: message.value, returnData: EMPTY, initCode });
    tracer.onEnter?.({
      depth,
      type,
      from,
      to,
      input: message.data,
      gas: message.gasLimit,
      value: type === "STATICCALL" ? undefined : message.value,
    });
  });

  const onAfterMessage = guard<EVMResult>(async (result) => {
    const frame = frames.pop();
    if (frame === undefined) return;
    const ex = result.execResult;
    const raw = ex.exceptionError?.error;
    const run = ex.runState;
    if (raw === undefined) flushRefused(frame);
    if (raw === undefined && frame.last !== undefined && !HALTING.has(frame.last.op) && run !== undefined) {
      // The code ran off its end: geth executes (and logs) an implicit STOP there.
      await tracer.onOpcode?.(
        {
          pc: run.programCounter,
          op: Op.STOP,
          opName: "STOP",
          gas: run.gasLeft,
          cost: 0n,
          depth: frame.depth + 1,
          stack: run.stack.getStack(),
          memory: run.memory._store.slice(0, Number(run.memoryWordCount) * 32),
          address: frame.address,
          returnData: frame.returnData,
          refund: ex.gasRefund ?? 0n,
        },
        state,
      );
    }
    if (raw === undefined && frame.selfdestruct !== undefined) {
      const { beneficiary, value } = frame.selfdestruct;
      tracer.onEnter?.({
        depth: frame.depth + 1,
        type: "SELFDESTRUCT",
        from: frame.address,
        to: beneficiary,
        input: EMPTY,
        gas: 0n,
        value,
      });
      tracer.onExit?.({ depth: frame.depth + 1, output: EMPTY, gasUsed: 0n, reverted: false });
    }
    const error = raw === undefined ? undefined : gethError(raw, frame.last);
    if (
      raw !== undefined &&
      error !== undefined &&
      PRE_EXECUTION_ERRORS.has(raw) &&
      frame.last !== undefined
    ) {
      tracer.onFault?.(frame.depth + 1, error);
    }
    tracer.onExit?.({
      depth: frame.depth,
      output: ex.returnValue,
      gasUsed: ex.executionGasUsed,
      error,
      reverted: raw !== undefined,
    });
    const parent = frames[frames.length - 1];
    if (parent !== undefined) {
      const creation = frame.type === "CREATE" || frame.type === "CREATE2";
      const keep = creation ? raw === "revert" : raw === undefined || raw === "revert";
      parent.returnData = keep ? ex.returnValue : EMPTY;
    }
  });

  events.on("step", onStep);
  events.on("beforeMessage", onBeforeMessage);
  events.on("afterMessage", onAfterMessage);
  return {
    detach() {
      events.off("step", onStep);
      events.off("beforeMessage", onBeforeMessage);
      events.off("afterMessage", onAfterMessage);
    },
    failure: () => failure,
  };
}
