/**
 * The runtime of OpenGPU's native system contracts: precompiles written in TypeScript that
 * behave like Solidity contracts implementing their interface (`I*.sol`, ABI in `abi.ts`).
 *
 * ethereumjs hands a precompile only its calldata and gas, not the call's sender, value or
 * block. `installSystemContracts` therefore wraps the EVM's call entry (`_executeCall`, run for
 * every CALL frame, including a transaction's top-level call) to keep a stack of frames, and a
 * precompile reads its own frame from the top: caller, value, static flag. The block comes from
 * the EVM's current block context (set by runTx/runCall). Value sent with a call has already
 * been credited to the contract's address when the precompile runs, as for any contract.
 *
 * A `SystemCall` is one invocation: storage reads and writes (on any system contract's
 * address, so the task market can slash stake held by the provider registry), balance moves,
 * logs and gas, all through the EVM's state manager and journal, so a revert anywhere up the
 * call stack undoes them like any contract's changes.
 */
import type { Block } from "@ethereumjs/block";
import {
  type EVM,
  EVMError,
  type ExecResult,
  type Log,
  type Message,
  type PrecompileFunc,
  type PrecompileInput,
} from "@ethereumjs/evm";
import {
  Account,
  type Address,
  bigIntToBytes,
  bytesToBigInt,
  bytesToHex,
  createAddressFromString,
  setLengthLeft,
  setLengthRight,
} from "@ethereumjs/util";
import {
  type Abi,
  type AbiStateMutability,
  type ContractEventArgsFromTopics,
  type ContractEventName,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type ContractFunctionReturnType,
  decodeFunctionData,
  encodeAbiParameters,
  encodeEventTopics,
  encodeFunctionResult,
  type Hex,
  hexToBytes,
} from "viem";
import { SystemContractError, SystemContractErrorCode } from "./errors.ts";
import { SYSTEM_GAS } from "./gas.ts";
import { dataSlot, offset } from "./storage.ts";

type MessageWithTo = Message & { to: Address };
type ExecuteCall = (message: MessageWithTo) => Promise<unknown>;
interface EvmInternals {
  _executeCall: ExecuteCall;
  _block?: Block;
}

const frames = new WeakMap<EVM, Message[]>();

/**
 * Makes `evm` tell its system precompiles who calls them (see the module comment). Call once per
 * EVM, before it runs anything.
 */
export function installSystemContracts(evm: EVM): void {
  if (frames.has(evm)) return;
  const stack: Message[] = [];
  frames.set(evm, stack);
  const internals = evm as unknown as EvmInternals;
  const original = internals._executeCall.bind(evm);
  internals._executeCall = async (message: MessageWithTo) => {
    stack.push(message);
    try {
      return await original(message);
    } finally {
      stack.pop();
    }
  };
}

export interface BlockContext {
  number: bigint;
  timestamp: bigint;
  prevRandao: Uint8Array;
  coinbase: Address;
}

/** One invocation of a system contract. */
export class SystemCall {
  /** The contract's own address. */
  readonly self: Address;
  readonly caller: Address;
  /** Wei sent with the call (already credited to `self`). */
  readonly value: bigint;
  /** Call depth: 0 for a transaction's own call. */
  readonly depth: number;
  /** Static call or view function: every write is refused. */
  readOnly: boolean;
  readonly block: BlockContext;
  readonly chainId: bigint;
  readonly logs: Log[] = [];
  gasUsed = 0n;
  private readonly gasLimit: bigint;
  private readonly evm: EVM;

  constructor(evm: EVM, self: Address, frame: Message, gasLimit: bigint, chainId: bigint) {
    this.evm = evm;
    this.self = self;
    this.caller = frame.caller;
    this.value = frame.value;
    this.depth = frame.depth;
    this.readOnly = frame.isStatic;
    this.gasLimit = gasLimit;
    this.chainId = chainId;
    const block = (evm as unknown as EvmInternals)._block;
    const header = block?.header;
    this.block = {
      number: header?.number ?? 0n,
      timestamp: header?.timestamp ?? 0n,
      prevRandao: header?.mixHash ?? new Uint8Array(32),
      coinbase: header?.coinbase ?? createAddressFromString(`0x${"00".repeat(20)}`),
    };
  }

  /** Charges `gas`; out of gas ends the call (all its changes are undone). */
  charge(gas: bigint): void {
    this.gasUsed += gas;
    if (this.gasUsed > this.gasLimit) {
      throw new SystemContractError(SystemContractErrorCode.OUT_OF_GAS, "out of gas");
    }
  }

  private writable(): void {
    if (this.readOnly)
      throw new SystemContractError(SystemContractErrorCode.REVERT, "state change in a static call");
  }

  /** One storage word of `address` as an unsigned integer. */
  async load(address: Address, slot: Uint8Array): Promise<bigint> {
    this.charge(SYSTEM_GAS.load);
    const value = await this.evm.stateManager.getStorage(address, slot);
    return value.length === 0 ? 0n : bytesToBigInt(value);
  }

  /** One storage word as 32 bytes. */
  async loadWord(address: Address, slot: Uint8Array): Promise<Uint8Array> {
    return setLengthLeft(bigIntToBytes(await this.load(address, slot)), 32);
  }

  async store(address: Address, slot: Uint8Array, value: bigint | Uint8Array): Promise<void> {
    this.writable();
    const v = typeof value === "bigint" ? value : bytesToBigInt(value);
    if (v < 0n || v >= 1n << 256n) throw new RangeError(`storage value out of range: ${v}`);
    const before = await this.evm.stateManager.getStorage(address, slot);
    this.charge(before.length === 0 && v !== 0n ? SYSTEM_GAS.storeNew : SYSTEM_GAS.storeUpdate);
    await this.evm.stateManager.putStorage(address, slot, v === 0n ? new Uint8Array(0) : bigIntToBytes(v));
  }

  /** Variable-length bytes stored at `slot` (length word, chunks from keccak(slot)). */
  async loadBytes(address: Address, slot: Uint8Array): Promise<Uint8Array> {
    const length = Number(await this.load(address, slot));
    const out = new Uint8Array(length);
    const base = dataSlot(slot);
    for (let i = 0; i * 32 < length; i++) {
      const chunk = await this.loadWord(address, offset(base, i));
      out.set(chunk.subarray(0, Math.min(32, length - i * 32)), i * 32);
    }
    return out;
  }

  async storeBytes(address: Address, slot: Uint8Array, bytes: Uint8Array): Promise<void> {
    const oldLength = Number(await this.load(address, slot));
    await this.store(address, slot, BigInt(bytes.length));
    const base = dataSlot(slot);
    const chunks = Math.ceil(bytes.length / 32);
    for (let i = 0; i < chunks; i++) {
      await this.store(address, offset(base, i), setLengthRight(bytes.subarray(i * 32, i * 32 + 32), 32));
    }
    // Clear chunks the old value used beyond the new one.
    for (let i = chunks; i * 32 < oldLength; i++) await this.store(address, offset(base, i), 0n);
  }

  async balance(address: Address): Promise<bigint> {
    this.charge(SYSTEM_GAS.load);
    return (await this.evm.stateManager.getAccount(address))?.balance ?? 0n;
  }

  /** Moves `amount` wei from `from` (a system contract's balance) to `to`. */
  async transfer(from: Address, to: Address, amount: bigint): Promise<void> {
    if (amount === 0n) return;
    this.writable();
    this.charge(SYSTEM_GAS.transfer);
    await this.debit(from, amount);
    const account = (await this.evm.stateManager.getAccount(to)) ?? new Account();
    account.balance += amount;
    await this.evm.journal.putAccount(to, account);
  }

  /** Destroys `amount` wei held by `from`: the supply shrinks. */
  async burn(from: Address, amount: bigint): Promise<void> {
    if (amount === 0n) return;
    this.writable();
    this.charge(SYSTEM_GAS.transfer);
    await this.debit(from, amount);
  }

  private async debit(from: Address, amount: bigint): Promise<void> {
    const account = await this.evm.stateManager.getAccount(from);
    if (account === undefined || account.balance < amount) {
      // The contracts' bookkeeping guarantees this never happens; if it did, refuse rather
      // than create or destroy value.
      throw new SystemContractError(
        SystemContractErrorCode.REVERT,
        `internal error: ${from.toString()} holds less than ${amount}`,
      );
    }
    account.balance -= amount;
    await this.evm.journal.putAccount(from, account);
  }

  /** Emits event `name` of `abi` from `address` with `args` (named as in the ABI). */
  emit<const A extends Abi, N extends ContractEventName<A>>(
    address: Address,
    abi: A,
    name: N,
    args: ContractEventArgsFromTopics<A, N>,
  ): void {
    this.writable();
    const event = abi.find((e) => e.type === "event" && e.name === name);
    if (event === undefined || event.type !== "event") throw new Error(`no event ${String(name)}`);
    const topics = encodeEventTopics({ abi, eventName: name, args } as never) as Hex[];
    const values = args as Record<string, unknown>;
    const plain = event.inputs.filter((input) => input.indexed !== true);
    const data = hexToBytes(
      encodeAbiParameters(
        plain,
        plain.map((input) => values[input.name ?? ""]),
      ),
    );
    this.charge(
      SYSTEM_GAS.log + SYSTEM_GAS.logTopic * BigInt(topics.length) + SYSTEM_GAS.logByte * BigInt(data.length),
    );
    this.logs.push([address.bytes, topics.map((t) => hexToBytes(t)), data]);
  }
}

/** The implementation of every function of `A`, by name. */
export type Handlers<A extends Abi> = {
  [F in ContractFunctionName<A>]: (
    call: SystemCall,
    args: ContractFunctionArgs<A, AbiStateMutability, F>,
  ) => Promise<ContractFunctionReturnType<A, AbiStateMutability, F>>;
};

function errorData(reason: string): Uint8Array {
  const encoded = encodeAbiParameters([{ type: "string" }], [reason]);
  return hexToBytes(`0x08c379a0${encoded.slice(2)}`);
}

function failure(gasUsed: bigint, error: string, returnValue: Uint8Array = new Uint8Array(0)): ExecResult {
  return {
    executionGasUsed: gasUsed,
    returnValue: returnValue as Uint8Array<ArrayBuffer>,
    exceptionError: new EVMError(error as never),
  };
}

/**
 * A precompile running `handlers` for calls encoded with `abi`: decodes the calldata, refuses
 * value for non-payable functions, state changes in view functions and static calls, and
 * delegate calls; encodes the result; turns refusals into reverts with Error(reason).
 */
export function systemContract<const A extends Abi>(
  address: `0x${string}`,
  abi: A,
  handlers: Handlers<A>,
): PrecompileFunc {
  const self = createAddressFromString(address);
  const mutability = new Map<string, AbiStateMutability>();
  for (const item of abi) if (item.type === "function") mutability.set(item.name, item.stateMutability);
  return async (input: PrecompileInput): Promise<ExecResult> => {
    const evm = input._EVM as EVM;
    const frame = frames.get(evm)?.at(-1);
    if (frame === undefined || frame.to === undefined || !frame.to.equals(self) || frame.delegatecall) {
      return failure(
        input.gasLimit,
        EVMError.errorMessages.REVERT,
        errorData("system contracts cannot be delegate-called"),
      );
    }
    const call = new SystemCall(evm, self, frame, input.gasLimit, input.common.chainId());
    try {
      call.charge(SYSTEM_GAS.call + SYSTEM_GAS.hashWord * BigInt(Math.ceil(input.data.length / 32)));
      let decoded: { functionName: string; args: readonly unknown[] | undefined };
      try {
        decoded = decodeFunctionData({ abi, data: bytesToHex(input.data) as Hex }) as typeof decoded;
      } catch {
        throw new SystemContractError(
          SystemContractErrorCode.REVERT,
          "unknown function or malformed calldata",
        );
      }
      const name = decoded.functionName;
      const kind = mutability.get(name);
      if (kind !== "payable" && call.value > 0n) {
        throw new SystemContractError(SystemContractErrorCode.REVERT, `${name} is not payable`);
      }
      const handler = (
        handlers as unknown as Record<string, (c: SystemCall, a: readonly unknown[]) => Promise<unknown>>
      )[name];
      if (kind === "view" || kind === "pure") call.readOnly = true;
      const result = await handler(call, decoded.args ?? []);
      const returnValue: Uint8Array<ArrayBuffer> =
        result === undefined
          ? new Uint8Array(0)
          : (hexToBytes(
              encodeFunctionResult({ abi, functionName: name, result } as never) as Hex,
            ) as Uint8Array<ArrayBuffer>);
      return { executionGasUsed: call.gasUsed, returnValue, logs: call.logs };
    } catch (err) {
      if (err instanceof SystemContractError) {
        if (err.code === SystemContractErrorCode.OUT_OF_GAS) {
          return failure(input.gasLimit, EVMError.errorMessages.OUT_OF_GAS);
        }
        return failure(call.gasUsed, EVMError.errorMessages.REVERT, errorData(err.message));
      }
      // A bug in a contract must not halt the chain: it reverts, deterministically, with the
      // error's message.
      return failure(
        call.gasUsed,
        EVMError.errorMessages.REVERT,
        errorData(`internal error: ${(err as Error).message ?? String(err)}`),
      );
    }
  };
}
