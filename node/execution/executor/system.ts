/**
 * Block-level state changes outside transactions (Cancun/Prague), identical to what
 * ethereumjs' `runBlock` applies on import, so blocks we build validate everywhere:
 * - before transactions: EIP-4788 parent beacon root and EIP-2935 parent hash ring buffers;
 * - after transactions: EIP-4895 withdrawals, then EIP-7685 requests (EIP-6110 deposits from
 *   receipts, EIP-7002 withdrawal and EIP-7251 consolidation queues via system calls).
 */

import type { Log } from "@ethereumjs/evm";
import {
  Account,
  Address,
  bigIntToBytes,
  bytesToBigInt,
  bytesToHex,
  CLRequest,
  CLRequestType,
  concatBytes,
  createAddressFromString,
  createWithdrawal,
  setLengthLeft,
  type WithdrawalData,
} from "@ethereumjs/util";
import type { VM } from "@ethereumjs/vm";
import { BEACON_ROOTS, HISTORY_STORAGE, SYSTEM_ADDRESS } from "../../../genesis/system-contracts.ts";

const SYSTEM = createAddressFromString(SYSTEM_ADDRESS);
const BEACON_ROOTS_ADDRESS = createAddressFromString(BEACON_ROOTS.address);
const HISTORY_ADDRESS = createAddressFromString(HISTORY_STORAGE.address);
const GWEI = 1_000_000_000n;
const DEPOSIT_TOPIC = "0x649bbc62d0e31342afea4e5cd82d4049e7e1ee912fc0889aa790803be39038c5";

function word(n: bigint): Uint8Array {
  return setLengthLeft(bigIntToBytes(n), 32);
}

/** EIP-4788 and EIP-2935 ring-buffer writes at the start of a block. */
export async function applyPreBlockSystemWrites(
  vm: VM,
  header: { number: bigint; timestamp: bigint; parentHash: Uint8Array; parentBeaconBlockRoot?: Uint8Array },
): Promise<void> {
  const sm = vm.stateManager;
  if (vm.common.isActivatedEIP(4788)) {
    const code = await sm.getCode(BEACON_ROOTS_ADDRESS);
    if (code.length > 0) {
      const length = BigInt(vm.common.param("historicalRootsLength"));
      const index = header.timestamp % length;
      await sm.putStorage(BEACON_ROOTS_ADDRESS, word(index), bigIntToBytes(header.timestamp));
      await sm.putStorage(
        BEACON_ROOTS_ADDRESS,
        word(index + length),
        header.parentBeaconBlockRoot ?? new Uint8Array(32),
      );
      await vm.evm.journal.cleanup();
    }
  }
  if (vm.common.isActivatedEIP(2935)) {
    const code = await sm.getCode(HISTORY_ADDRESS);
    if (code.length > 0) {
      const window = vm.common.param("historyServeWindow");
      await sm.putStorage(HISTORY_ADDRESS, word((header.number - 1n) % window), header.parentHash);
      await vm.evm.journal.cleanup();
    }
  }
}

/**
 * OpenGPU's withdrawal funding (no minting): a withdrawal is paid out of the deposit contract
 * (which holds all staked oGPU), and what it cannot cover (consensus rewards) out of the
 * provider-rewards pool, up to the part of the pool released so far (linear over
 * `releaseSeconds` from `releaseStart`). What neither can pay is not credited. The sum of all
 * execution balances therefore never grows.
 */
export interface WithdrawalFunding {
  deposit: Address;
  rewards: Address;
  /** The pool's allocation at genesis, in wei. */
  rewardsTotal: bigint;
  releaseStart: bigint;
  releaseSeconds: bigint;
}

/** Wei of the rewards pool released by `timestamp`. */
export function releasedRewards(funding: WithdrawalFunding, timestamp: bigint): bigint {
  if (timestamp <= funding.releaseStart) return 0n;
  const elapsed = timestamp - funding.releaseStart;
  if (elapsed >= funding.releaseSeconds) return funding.rewardsTotal;
  return (funding.rewardsTotal * elapsed) / funding.releaseSeconds;
}

/**
 * EIP-4895 withdrawals (amounts in Gwei). Without `funding` they are credited as on Ethereum
 * (new coins); with it, they move existing oGPU as `WithdrawalFunding` describes.
 */
export async function applyWithdrawals(
  vm: VM,
  withdrawals: readonly WithdrawalData[],
  funding?: WithdrawalFunding,
  timestamp = 0n,
): Promise<void> {
  const sm = vm.stateManager;
  for (const data of withdrawals) {
    const withdrawal = createWithdrawal(data);
    if (withdrawal.amount === 0n) continue;
    let paid = withdrawal.amount * GWEI;
    if (funding !== undefined) {
      const deposit = (await sm.getAccount(funding.deposit)) ?? new Account();
      const fromDeposit = deposit.balance < paid ? deposit.balance : paid;
      deposit.balance -= fromDeposit;
      await vm.evm.journal.putAccount(funding.deposit, deposit);
      const pool = (await sm.getAccount(funding.rewards)) ?? new Account();
      const locked = funding.rewardsTotal - releasedRewards(funding, timestamp);
      const available = pool.balance > locked ? pool.balance - locked : 0n;
      const wanted = paid - fromDeposit;
      const fromPool = available < wanted ? available : wanted;
      pool.balance -= fromPool;
      await vm.evm.journal.putAccount(funding.rewards, pool);
      paid = fromDeposit + fromPool;
      if (paid === 0n) continue;
    }
    const account = (await sm.getAccount(withdrawal.address)) ?? new Account();
    account.balance += paid;
    await vm.evm.journal.putAccount(withdrawal.address, account);
  }
  await vm.evm.journal.cleanup();
}

/** EIP-6110: deposit requests from deposit-contract logs, in receipt order. */
export function depositRequestFromLogs(
  depositContract: string,
  logs: Iterable<Log>,
): CLRequest<CLRequestType> {
  const target = depositContract.toLowerCase();
  const parts: Uint8Array[] = [];
  for (const [address, topics, data] of logs) {
    if (topics.length === 0 || bytesToHex(topics[0]) !== DEPOSIT_TOPIC) continue;
    if (bytesToHex(address) !== target) continue;
    parts.push(parseDepositLog(data));
  }
  return new CLRequest(CLRequestType.Deposit, concatBytes(...parts));
}

const DEPOSIT_LAYOUT: [offset: number, size: number][] = [
  [160, 48], // pubkey
  [256, 32], // withdrawal credentials
  [320, 8], // amount
  [384, 96], // signature
  [512, 8], // index
];

function parseDepositLog(data: Uint8Array): Uint8Array {
  if (data.length !== 576) throw new Error("invalid deposit log: unsupported data layout");
  const out: Uint8Array[] = [];
  DEPOSIT_LAYOUT.forEach(([offset, size], i) => {
    const headOffset = bytesToBigInt(data.subarray(i * 32, i * 32 + 32));
    const length = bytesToBigInt(data.subarray(offset, offset + 32));
    if (headOffset !== BigInt(offset) || length !== BigInt(size)) {
      throw new Error("invalid deposit log: unsupported data layout");
    }
    out.push(data.slice(offset + 32, offset + 32 + size));
  });
  return concatBytes(...out);
}

async function dequeueSystemCall(
  vm: VM,
  contract: Address,
  type: CLRequestType,
): Promise<CLRequest<CLRequestType>> {
  const sm = vm.stateManager;
  const systemAccount = await sm.getAccount(SYSTEM);
  if ((await sm.getAccount(contract)) === undefined) return new CLRequest(type, new Uint8Array(0));
  const result = await vm.evm.runCall({
    caller: SYSTEM,
    to: contract,
    gasLimit: vm.common.param("systemCallGasLimit"),
  });
  if (systemAccount === undefined) await sm.deleteAccount(SYSTEM);
  else await sm.putAccount(SYSTEM, systemAccount);
  return new CLRequest(type, result.execResult.returnValue);
}

/** EIP-7685 requests of a block, in type order, after its transactions and withdrawals ran. */
export async function accumulateRequests(
  vm: VM,
  depositContract: string,
  logs: Iterable<Log>,
): Promise<CLRequest<CLRequestType>[]> {
  const requests: CLRequest<CLRequestType>[] = [];
  if (vm.common.isActivatedEIP(6110)) requests.push(depositRequestFromLogs(depositContract, logs));
  if (vm.common.isActivatedEIP(7002)) {
    const address = new Address(
      setLengthLeft(bigIntToBytes(vm.common.param("withdrawalRequestPredeployAddress")), 20),
    );
    requests.push(await dequeueSystemCall(vm, address, CLRequestType.Withdrawal));
  }
  if (vm.common.isActivatedEIP(7251)) {
    const address = new Address(
      setLengthLeft(bigIntToBytes(vm.common.param("consolidationRequestPredeployAddress")), 20),
    );
    requests.push(await dequeueSystemCall(vm, address, CLRequestType.Consolidation));
  }
  return requests;
}
