/**
 * Execution of messages that never go into a block: eth_call, eth_estimateGas,
 * eth_createAccessList, debug_traceCall, eth_simulateV1; and the replay of a stored block up
 * to a transaction (tracing).
 *
 * Calls run `runTx` on a throwaway state view (so intrinsic gas, access-list warming and
 * EIP-7702 authorizations behave as in a real transaction) with the nonce check skipped.
 * Without a gas price the call is free, as geth's NoBaseFee: the block context then carries a
 * zero base fee. A sender with deployed code (EIP-3607 would refuse it) is run as a plain
 * message call instead, which is what callers simulating contract wallets expect.
 */
import { type Block, type BlockHeader, createBlock } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import type { EVMResult } from "@ethereumjs/evm";
import type { MerkleStateManager } from "@ethereumjs/statemanager";
import {
  type AccessList,
  createAccessList2930Tx,
  createEOACode7702Tx,
  createFeeMarket1559Tx,
  createLegacyTx,
  type TypedTransaction,
} from "@ethereumjs/tx";
import {
  Account,
  Address,
  bigIntToBytes,
  bytesToHex,
  createZeroAddress,
  equalsBytes,
  KECCAK256_NULL,
} from "@ethereumjs/util";
import { type RunTxResult, runTx, type VM } from "@ethereumjs/vm";
import type { Blockchain } from "../chain/blockchain.ts";
import { ExecutionTimeoutError, withDeadline } from "./guard.ts";
import { applyPreBlockSystemWrites } from "./system.ts";

export interface CallMessage {
  from?: Address;
  to?: Address;
  gas?: bigint;
  gasPrice?: bigint;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  value?: bigint;
  data?: Uint8Array;
  nonce?: bigint;
  accessList?: { address: Uint8Array; storageKeys: Uint8Array[] }[];
  authorizationList?: {
    chainId: bigint;
    address: Uint8Array;
    nonce: bigint;
    yParity: bigint;
    r: bigint;
    s: bigint;
  }[];
}

/** geth's state override for one account (keys of `state`/`stateDiff`: slot hex without 0x). */
export interface AccountOverride {
  balance?: bigint;
  nonce?: bigint;
  code?: Uint8Array;
  /** Replaces all storage. */
  state?: Map<string, Uint8Array>;
  /** Patches individual slots. */
  stateDiff?: Map<string, Uint8Array>;
  /** eth_simulateV1 only: moves the precompile at this account to another address. */
  movePrecompileToAddress?: Uint8Array;
}

/** geth's block overrides (eth_call, debug_traceCall, eth_simulateV1). */
export interface BlockOverrides {
  number?: bigint;
  time?: bigint;
  gasLimit?: bigint;
  feeRecipient?: Uint8Array;
  prevRandao?: Uint8Array;
  baseFeePerGas?: bigint;
  blobBaseFee?: bigint;
}

export interface CallEnv {
  /** State after this block is the starting state; this header is the block context. */
  header: BlockHeader;
  stateOverride?: Map<string, AccountOverride>;
  blockOverrides?: BlockOverrides;
  /** Upper bound on gas for the call (geth's --rpc.gascap); 0 means no cap. */
  gasCap: bigint;
  timeoutMs: number;
  reportAccessList?: boolean;
  /** Called with the VM before execution (tracers attach to vm.evm.events here). */
  onVm?: (vm: VM) => void;
  /**
   * Awaited just before execution (after overrides), with the sender and the gas the message
   * runs with: tracers read the pre-state here.
   */
  beforeRun?: (vm: VM, start: { from: Address; gasLimit: bigint }) => Promise<void>;
  /** Existing state to run on (eth_simulateV1 chains calls); a fresh view otherwise. */
  state?: MerkleStateManager;
}

export interface CallResult {
  gasUsed: bigint;
  returnValue: Uint8Array;
  /** The EVM error, if execution failed (`revert` for REVERT). */
  error?: string;
  reverted: boolean;
  accessList?: AccessList;
  logs: NonNullable<EVMResult["execResult"]["logs"]>;
  createdAddress?: Address;
  /** The full ethereumjs result for tracers. */
  result?: RunTxResult | EVMResult;
}

/** Thrown for messages that cannot even start (wrong nonce, insufficient funds, ...). */
export class CallError extends Error {
  override name = "CallError";
}

const DEFAULT_GAS = 2n ** 63n - 1n;

/** Writes `overrides` (geth's state override set) into `sm` before execution. */
export async function applyStateOverride(
  sm: MerkleStateManager,
  overrides: Map<string, AccountOverride>,
): Promise<void> {
  for (const [addrHex, o] of overrides) {
    const address = new Address(Buffer.from(addrHex, "hex"));
    const account = (await sm.getAccount(address)) ?? new Account();
    if (o.balance !== undefined) account.balance = o.balance;
    if (o.nonce !== undefined) account.nonce = o.nonce;
    await sm.putAccount(address, account);
    if (o.code !== undefined) await sm.putCode(address, o.code);
    if (o.state !== undefined) {
      await sm.clearStorage(address);
      for (const [slot, value] of o.state) await sm.putStorage(address, Buffer.from(slot, "hex"), value);
    }
    if (o.stateDiff !== undefined) {
      for (const [slot, value] of o.stateDiff) await sm.putStorage(address, Buffer.from(slot, "hex"), value);
    }
  }
}

/** The block context a call runs in: the header, with overrides, and a zero base fee for free calls. */
export function callContext(
  chain: Blockchain,
  env: CallEnv,
  free: boolean,
): { block: Block; common: Common } {
  const h = env.header;
  const o = env.blockOverrides ?? {};
  const number = o.number ?? h.number;
  const timestamp = o.time ?? h.timestamp;
  const common = chain.config.commonAt(number, timestamp);
  const block = createBlock(
    {
      header: {
        parentHash: h.parentHash,
        number,
        timestamp,
        gasLimit: o.gasLimit ?? h.gasLimit,
        coinbase: o.feeRecipient !== undefined ? new Address(o.feeRecipient) : h.coinbase,
        mixHash: o.prevRandao ?? h.mixHash,
        difficulty: h.difficulty,
        baseFeePerGas: common.isActivatedEIP(1559)
          ? free
            ? 0n
            : (o.baseFeePerGas ?? h.baseFeePerGas ?? 0n)
          : undefined,
        excessBlobGas: common.isActivatedEIP(4844) ? (h.excessBlobGas ?? 0n) : undefined,
        blobGasUsed: common.isActivatedEIP(4844) ? 0n : undefined,
        parentBeaconBlockRoot: common.isActivatedEIP(4788)
          ? (h.parentBeaconBlockRoot ?? new Uint8Array(32))
          : undefined,
      },
    },
    { common, skipConsensusFormatValidation: true },
  );
  return { block, common };
}

function buildTx(
  msg: CallMessage,
  common: Common,
  gas: bigint,
  nonce: bigint,
  free: boolean,
): TypedTransaction {
  const base = {
    nonce,
    gasLimit: gas,
    to: msg.to,
    value: msg.value ?? 0n,
    data: msg.data ?? new Uint8Array(0),
  };
  const accessList = (msg.accessList ?? []).map((e) => ({
    address: bytesToHex(e.address),
    storageKeys: e.storageKeys.map((k) => bytesToHex(k)),
  }));
  const opts = { common, freeze: false };
  if (msg.authorizationList !== undefined) {
    return createEOACode7702Tx(
      {
        ...base,
        maxFeePerGas: free ? 0n : (msg.maxFeePerGas ?? msg.gasPrice ?? 0n),
        maxPriorityFeePerGas: free
          ? 0n
          : (msg.maxPriorityFeePerGas ?? msg.maxFeePerGas ?? msg.gasPrice ?? 0n),
        accessList,
        authorizationList: msg.authorizationList.map((a) => ({
          chainId: bytesToHex(bigIntToBytes(a.chainId)),
          address: bytesToHex(a.address),
          nonce: bytesToHex(bigIntToBytes(a.nonce)),
          yParity: bytesToHex(bigIntToBytes(a.yParity)),
          r: bytesToHex(bigIntToBytes(a.r)),
          s: bytesToHex(bigIntToBytes(a.s)),
        })),
      } as never,
      opts,
    );
  }
  if (msg.gasPrice !== undefined && !free) {
    return accessList.length > 0
      ? createAccessList2930Tx({ ...base, gasPrice: msg.gasPrice, accessList }, opts)
      : createLegacyTx({ ...base, gasPrice: msg.gasPrice }, opts);
  }
  return createFeeMarket1559Tx(
    {
      ...base,
      maxFeePerGas: free ? 0n : (msg.maxFeePerGas ?? 0n),
      maxPriorityFeePerGas: free ? 0n : (msg.maxPriorityFeePerGas ?? 0n),
      accessList,
    },
    opts,
  );
}

/** Executes a message on the state after `env.header` (plus overrides). */
export async function executeCall(chain: Blockchain, msg: CallMessage, env: CallEnv): Promise<CallResult> {
  const free =
    (msg.gasPrice === undefined || msg.gasPrice === 0n) &&
    (msg.maxFeePerGas === undefined || msg.maxFeePerGas === 0n) &&
    (msg.maxPriorityFeePerGas === undefined || msg.maxPriorityFeePerGas === 0n);
  const { block, common } = callContext(chain, env, free);
  const sm = env.state ?? chain.executor.stateAt(env.header.stateRoot, common);
  if (env.stateOverride !== undefined) await applyStateOverride(sm, env.stateOverride);
  const vm = await chain.executor.vmFor(common, sm, env.header);
  env.onVm?.(vm);
  const from = msg.from ?? createZeroAddress();
  let gas = msg.gas ?? (env.gasCap > 0n ? env.gasCap : DEFAULT_GAS);
  if (env.gasCap > 0n && gas > env.gasCap) gas = env.gasCap;

  const sender = await sm.getAccount(from);
  const senderHasCode = sender !== undefined && !equalsBytes(sender.codeHash, KECCAK256_NULL);
  const isDelegated =
    senderHasCode && (await sm.getCode(from)).subarray(0, 3).every((b, i) => b === [0xef, 0x01, 0x00][i]);
  await env.beforeRun?.(vm, { from, gasLimit: gas });

  return withDeadline(vm.evm, env.timeoutMs, async () => {
    if (senderHasCode && !isDelegated) {
      // EIP-3607 would refuse this sender: run the bare message call.
      const result = await vm.evm.runCall({
        caller: from,
        origin: from,
        to: msg.to,
        value: msg.value ?? 0n,
        data: msg.data ?? new Uint8Array(0),
        gasLimit: gas,
        gasPrice: msg.gasPrice ?? msg.maxFeePerGas ?? 0n,
        block,
      });
      const ex = result.execResult;
      return {
        gasUsed: ex.executionGasUsed,
        returnValue: ex.returnValue,
        error: ex.exceptionError?.error,
        reverted: ex.exceptionError?.error === "revert",
        logs: ex.logs ?? [],
        createdAddress: result.createdAddress,
        result,
      };
    }
    const tx = buildTx(msg, common, gas, msg.nonce ?? sender?.nonce ?? 0n, free);
    (tx as { getSenderAddress: () => Address }).getSenderAddress = () => from;
    let result: RunTxResult;
    try {
      result = await runTx(vm, {
        tx,
        block,
        skipNonce: true,
        skipBlockGasLimitValidation: true,
        skipHardForkValidation: true,
        reportAccessList: env.reportAccessList,
      });
    } catch (err) {
      // A timeout is not a reason the message could not start: keep its type.
      if (err instanceof ExecutionTimeoutError) throw err;
      throw new CallError(normalizeTxError((err as Error).message ?? String(err), from, sender, tx));
    }
    const ex = result.execResult;
    return {
      gasUsed: result.totalGasSpent,
      returnValue: ex.returnValue,
      error: ex.exceptionError?.error,
      reverted: ex.exceptionError?.error === "revert",
      accessList: result.accessList,
      logs: ex.logs ?? [],
      createdAddress: result.createdAddress,
      result,
    };
  });
}

/** Rewrites ethereumjs' pre-execution errors into geth's wording. */
function normalizeTxError(
  message: string,
  from: Address,
  account: Account | undefined,
  tx: TypedTransaction,
): string {
  if (/enough funds/.test(message)) {
    const want = tx.getUpfrontCost();
    return `insufficient funds for gas * price + value: address ${from} have ${account?.balance ?? 0n} want ${want}`;
  }
  if (/intrinsic|gasLimit is too low|Base fee exceeds gas limit|floor/i.test(message)) {
    return `intrinsic gas too low: have ${tx.gasLimit}, want ${tx.getIntrinsicGas()}`;
  }
  if (/baseFeePerGas/.test(message)) return `max fee per gas less than block base fee: address ${from}`;
  return message.replace(/ -> block number=.*$/s, "").replace(/ \(block number.*$/s, "");
}

/**
 * Prepares a VM at the parent state of `block` with the block's pre-transaction system writes
 * applied, and runs its first `upTo` transactions. Used by tracers.
 */
export async function replayBlock(
  chain: Blockchain,
  block: Block,
  upTo: number,
  onTx?: (index: number, tx: TypedTransaction) => Promise<void> | void,
): Promise<{ vm: VM; sm: MerkleStateManager; block: Block }> {
  const parent = chain.store.getHeader(block.header.parentHash);
  if (parent === undefined) throw new CallError(`parent of block ${block.header.number} not found`);
  const common = chain.config.commonAt(block.header.number, block.header.timestamp);
  const sm = chain.executor.stateAt(parent.stateRoot, common);
  const vm = await chain.executor.vmFor(common, sm, parent);
  await vm.evm.journal.checkpoint();
  await applyPreBlockSystemWrites(vm, block.header);
  let gasUsed = 0n;
  for (let i = 0; i < upTo && i < block.transactions.length; i++) {
    await onTx?.(i, block.transactions[i]);
    const result = await runTx(vm, {
      tx: block.transactions[i],
      block,
      blockGasUsed: gasUsed,
      skipHardForkValidation: true,
    });
    gasUsed += result.totalGasSpent;
  }
  return { vm, sm, block };
}
