/**
 * The chain's rules: chain id, fork schedule and genesis, as ethereumjs `Common` instances.
 *
 * A `Common` is mutable (its current hardfork), so this class hands out one frozen-in-use
 * instance per hardfork and never changes their hardfork afterwards: callers pick the instance
 * for a block's (number, timestamp) and may share it freely.
 */
import { type Common, createCommonFromGethGenesis, Hardfork } from "@ethereumjs/common";
import type { GethGenesis } from "../../../genesis/types.ts";
import { customCrypto } from "../crypto.ts";

export class ChainConfig {
  readonly genesis: GethGenesis;
  readonly chainId: bigint;
  readonly name: string;
  private readonly base: Common;
  private readonly byHardfork = new Map<string, Common>();

  constructor(genesis: GethGenesis) {
    this.genesis = genesis;
    this.chainId = BigInt(genesis.config.chainId);
    this.name = genesis.config.opengpu?.network ?? `chain-${genesis.config.chainId}`;
    this.base = createCommonFromGethGenesis(genesis as never, { chain: this.name, customCrypto });
  }

  /** True for networks built from an OpenGPU definition (as opposed to imported Ethereum test chains). */
  get isOpenGpuNetwork(): boolean {
    return this.genesis.config.opengpu !== undefined;
  }

  hardforkAt(number: bigint, timestamp: bigint): string {
    return this.base.getHardforkBy({ blockNumber: number, timestamp });
  }

  /** The rules in force for a block at (number, timestamp). */
  commonAt(number: bigint, timestamp: bigint): Common {
    return this.commonFor(this.hardforkAt(number, timestamp));
  }

  commonFor(hardfork: string): Common {
    let common = this.byHardfork.get(hardfork);
    if (common === undefined) {
      common = this.base.copy();
      common.setHardfork(hardfork);
      this.byHardfork.set(hardfork, common);
    }
    return common;
  }

  /** True when the block at (number, timestamp) follows proof-of-stake rules (no PoW, no uncles). */
  isPostMerge(number: bigint, timestamp: bigint): boolean {
    return this.commonAt(number, timestamp).gteHardfork(Hardfork.Paris);
  }
}
