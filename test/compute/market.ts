/**
 * Drives the compute system contracts on a proof-of-stake dev node for tests: transactions from
 * dev accounts through the contracts' ABIs (viem), slots run on the test's clock, providers
 * with real BLS keys, and committee attestations signed and aggregated as members do.
 */
import { aggregateSignatures, SecretKey } from "@chainsafe/blst";
import {
  type Abi,
  BaseError,
  type ContractFunctionArgs,
  type ContractFunctionName,
  ContractFunctionRevertedError,
  type Hex,
  keccak256,
  type TransactionReceipt,
  toHex,
} from "viem";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../precompiles/addresses.ts";
import { MODEL_REGISTRY_ABI } from "../../precompiles/model-registry/abi.ts";
import { PROVIDER_REGISTRY_ABI, popMessage } from "../../precompiles/provider-registry/index.ts";
import {
  attestationMessage,
  bidCommitment,
  TASK_MARKET_ABI,
  type Task,
  type Verdict,
} from "../../precompiles/task-market/index.ts";
import type { DevNodeHandle } from "../helpers/dev-node.ts";
import { type Clients, clientsFor } from "./clients.ts";

export const CHAIN_ID = 1337n;
export const OGPU = 10n ** 18n;

export interface Provider {
  account: number;
  address: Hex;
  key: SecretKey;
}

export class Market {
  readonly c: Clients;
  slot = 0;
  /** Gas paid per sender (lowercase address) over every transaction sent through this driver. */
  readonly fees = new Map<string, bigint>();
  private readonly dev: DevNodeHandle;

  constructor(dev: DevNodeHandle) {
    this.dev = dev;
    this.c = clientsFor(dev);
  }

  address(i: number): Hex {
    return this.c.account(i).address;
  }

  async nextSlot(): Promise<void> {
    this.slot += 1;
    await this.dev.runSlot(this.slot);
  }

  /** Runs slots until the head block's timestamp is at least `timestamp`. */
  async until(timestamp: bigint): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      const head = await this.c.public.getBlock();
      if (head.timestamp >= timestamp) return;
      await this.nextSlot();
    }
    throw new Error(`timestamp ${timestamp} not reached`);
  }

  /** Sends transactions (each from its account) and includes them in the next slot's block. */
  async sendAll(
    txs: {
      from: number;
      abi: Abi;
      to: Hex;
      fn: string;
      args: readonly unknown[];
      value?: bigint;
      gas?: bigint;
    }[],
  ): Promise<TransactionReceipt[]> {
    const hashes: Hex[] = [];
    for (const tx of txs) {
      hashes.push(
        await this.c.wallet(tx.from).writeContract({
          address: tx.to,
          abi: tx.abi,
          functionName: tx.fn,
          args: tx.args,
          ...(tx.value !== undefined ? { value: tx.value } : {}),
          ...(tx.gas !== undefined ? { gas: tx.gas } : {}),
        } as never),
      );
    }
    await this.nextSlot();
    const receipts = await Promise.all(hashes.map((hash) => this.c.public.getTransactionReceipt({ hash })));
    for (const r of receipts) {
      const from = r.from.toLowerCase();
      this.fees.set(from, (this.fees.get(from) ?? 0n) + Market.fee(r));
    }
    return receipts;
  }

  async send(
    from: number,
    abi: Abi,
    to: Hex,
    fn: string,
    args: readonly unknown[],
    value?: bigint,
  ): Promise<TransactionReceipt> {
    const [receipt] = await this.sendAll([{ from, abi, to, fn, args, value }]);
    if (receipt.status !== "success") throw new Error(`${fn} failed in block`);
    return receipt;
  }

  /** The revert reason of calling `fn` from account `from` (simulated on the head state). */
  async reason(
    from: number,
    abi: Abi,
    to: Hex,
    fn: string,
    args: readonly unknown[],
    value?: bigint,
  ): Promise<string> {
    try {
      await this.c.public.simulateContract({
        account: this.c.account(from),
        address: to,
        abi,
        functionName: fn,
        args,
        ...(value !== undefined ? { value } : {}),
      } as never);
    } catch (err) {
      if (err instanceof BaseError) {
        const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
        if (reverted instanceof ContractFunctionRevertedError) return reverted.reason ?? "(no reason)";
      }
      throw err;
    }
    throw new Error(`${fn} did not revert`);
  }

  market<F extends ContractFunctionName<typeof TASK_MARKET_ABI, "nonpayable" | "payable">>(
    from: number,
    fn: F,
    args: ContractFunctionArgs<typeof TASK_MARKET_ABI, "nonpayable" | "payable", F>,
    value?: bigint,
  ) {
    return {
      from,
      abi: TASK_MARKET_ABI as Abi,
      to: SYSTEM_CONTRACT_ADDRESSES.taskMarket as Hex,
      fn,
      args: args as readonly unknown[],
      value,
    };
  }

  async task(id: bigint): Promise<Task> {
    return this.c.public.readContract({
      address: SYSTEM_CONTRACT_ADDRESSES.taskMarket,
      abi: TASK_MARKET_ABI,
      functionName: "getTask",
      args: [id],
    });
  }

  /** Gas account `i` paid through this driver so far. */
  feeOf(i: number): bigint {
    return this.fees.get(this.address(i).toLowerCase()) ?? 0n;
  }

  async balance(i: number | Hex): Promise<bigint> {
    return this.c.public.getBalance({ address: typeof i === "number" ? this.address(i) : i });
  }

  /** Gas paid by a receipt's sender (gas used × effective gas price). */
  static fee(r: TransactionReceipt): bigint {
    return r.gasUsed * r.effectiveGasPrice;
  }

  async registerProviders(accounts: number[], stake: bigint): Promise<Provider[]> {
    const providers = accounts.map((account) => {
      const key = SecretKey.fromKeygen(new Uint8Array(32).fill(account + 100));
      return { account, address: this.address(account), key };
    });
    const receipts = await this.sendAll(
      providers.map((p) => {
        const pubkey = p.key.toPublicKey().toBytes();
        const pop = p.key.sign(popMessage(CHAIN_ID, p.address, pubkey)).toBytes();
        return {
          from: p.account,
          abi: PROVIDER_REGISTRY_ABI as Abi,
          to: SYSTEM_CONTRACT_ADDRESSES.providerRegistry as Hex,
          fn: "register",
          args: [
            toHex(pubkey),
            toHex(pop),
            { device: "test CPU", memoryMiB: 1024n, executionProvider: "cpu" },
            [],
            OGPU,
            `peer-${p.account}`,
          ],
          value: stake,
        };
      }),
    );
    for (const r of receipts) if (r.status !== "success") throw new Error("provider registration failed");
    return providers;
  }

  async registerModel(from: number, sha256: Hex): Promise<void> {
    await this.send(
      from,
      MODEL_REGISTRY_ABI as Abi,
      SYSTEM_CONTRACT_ADDRESSES.modelRegistry,
      "registerModel",
      [
        sha256,
        1000n,
        "test model",
        [{ name: "x", dtype: 1, dims: [1n, 4n] }],
        [{ name: "y", dtype: 1, dims: [1n, 2n] }],
        { kind: 1, rtolPpb: 1_000_000, atolPpb: 10_000, topK: 1 },
      ],
    );
  }

  /** Sealed bids from `bids` (provider, price), committed in one block; returns the salts. */
  async commitBids(id: bigint, bids: { p: Provider; price: bigint }[]): Promise<Hex[]> {
    const salts = bids.map((b) => keccak256(toHex(`salt-${id}-${b.p.account}`)));
    const receipts = await this.sendAll(
      bids.map((b, i) =>
        this.market(b.p.account, "commitBid", [id, bidCommitment(id, b.p.address, b.price, salts[i])]),
      ),
    );
    for (const r of receipts) if (r.status !== "success") throw new Error("commitBid failed");
    return salts;
  }

  async revealBids(id: bigint, bids: { p: Provider; price: bigint }[], salts: Hex[]): Promise<void> {
    const receipts = await this.sendAll(
      bids.map((b, i) => this.market(b.p.account, "revealBid", [id, b.price, salts[i]])),
    );
    for (const r of receipts) if (r.status !== "success") throw new Error("revealBid failed");
  }

  /** The committee's aggregate vote: `members` (committee indices) sign `verdict`. */
  vote(task: Task, providers: Provider[], members: number[], verdict: Verdict) {
    const message = attestationMessage(
      CHAIN_ID,
      task.id,
      task.round,
      task.outputCommitment,
      verdict,
      task.policyHash,
    );
    const signatures = members.map((m) => {
      const p = providers.find((x) => x.address.toLowerCase() === task.committee[m].toLowerCase());
      if (p === undefined) throw new Error(`committee member ${task.committee[m]} is not a test provider`);
      return p.key.sign(message);
    });
    let signers = 0n;
    for (const m of members) signers |= 1n << BigInt(m);
    return {
      verdict,
      outputCommitment: task.outputCommitment,
      signers,
      signature: toHex(aggregateSignatures(signatures).toBytes()),
    };
  }
}
