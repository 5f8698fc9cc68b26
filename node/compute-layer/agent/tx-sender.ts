/**
 * Sends a provider agent's transactions: signs them with the agent's key and hands them to the
 * node's own transaction pool as local transactions (which the network gossips), exactly as
 * `eth_sendRawTransaction` would. Calls that would revert are not sent: the agent learns the
 * reason before paying gas for it.
 */
import { createFeeMarket1559Tx } from "@ethereumjs/tx";
import {
  type Address,
  createAddressFromPrivateKey,
  createAddressFromString,
  hexToBytes,
} from "@ethereumjs/util";
import { type Abi, type ContractFunctionName, encodeFunctionData, type Hex } from "viem";
import type { Blockchain } from "../../execution/chain/blockchain.ts";
import { executeCall } from "../../execution/executor/call.ts";
import { unpackRevert } from "../../execution/tracing/call-tracer.ts";
import type { TxPool } from "../../execution/txpool/pool.ts";
import { ComputeError, ComputeErrorCode } from "../chain-view.ts";

const TIP = 1_000_000_000n;
const GAS_CAP = 30_000_000n;

export interface TxSenderModules {
  chain: Blockchain;
  pool: TxPool;
}

export class TxSender {
  readonly address: Address;
  private readonly key: Uint8Array;
  private readonly chain: Blockchain;
  private readonly pool: TxPool;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(privateKey: Hex, modules: TxSenderModules) {
    this.key = hexToBytes(privateKey);
    this.address = createAddressFromPrivateKey(this.key);
    this.chain = modules.chain;
    this.pool = modules.pool;
  }

  /**
   * Sends `fn(args)` to `to` with `value`; resolves with the transaction hash once the pool took
   * it. Throws ComputeError CALL_FAILED with the revert reason when it would revert now.
   */
  send<const A extends Abi>(
    to: Hex,
    abi: A,
    fn: ContractFunctionName<A, "nonpayable" | "payable">,
    args: readonly unknown[],
    value = 0n,
  ): Promise<Hex> {
    const data = hexToBytes(encodeFunctionData({ abi, functionName: fn, args } as never));
    // One at a time per sender, so nonces follow each other.
    const run = this.tail.then(() => this.sendNow(createAddressFromString(to), data, value, String(fn)));
    this.tail = run.catch(() => {});
    return run;
  }

  private async sendNow(to: Address, data: Uint8Array, value: bigint, what: string): Promise<Hex> {
    const head = this.chain.head.header;
    const estimate = await executeCall(
      this.chain,
      { from: this.address, to, data, value, gas: GAS_CAP },
      { header: head, gasCap: GAS_CAP, timeoutMs: 10_000 },
    );
    if (estimate.error !== undefined) {
      const reason = unpackRevert(estimate.returnValue) ?? estimate.error;
      throw new ComputeError(ComputeErrorCode.CALL_FAILED, `${what}: ${reason}`);
    }
    const baseFee = head.calcNextBaseFee();
    const common = this.chain.config.commonAt(head.number + 1n, head.timestamp + 1n);
    const tx = createFeeMarket1559Tx(
      {
        chainId: this.chain.config.chainId,
        nonce: await this.pool.pendingNonce(this.address),
        maxPriorityFeePerGas: TIP,
        maxFeePerGas: baseFee * 2n + TIP,
        gasLimit: (estimate.gasUsed * 5n) / 4n + 30_000n,
        to,
        value,
        data,
      },
      { common },
    ).sign(this.key);
    const added = await this.pool.add(tx, { local: true });
    return added.hashHex as Hex;
  }
}
