/**
 * The chain's rules: chain id, fork schedule and genesis, as ethereumjs `Common` instances.
 *
 * A `Common` is mutable (its current hardfork), so this class hands out one frozen-in-use
 * instance per hardfork and never changes their hardfork afterwards: callers pick the instance
 * for a block's (number, timestamp) and may share it freely.
 */
import { paramsBlock } from "@ethereumjs/block";
import { Common, createCommonFromGethGenesis, Hardfork, type ParamsDict } from "@ethereumjs/common";
import { paramsEVM } from "@ethereumjs/evm";
import { paramsTx } from "@ethereumjs/tx";
import { paramsVM } from "@ethereumjs/vm";
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
    this.base = createCommonFromGethGenesis(withMergeBlock(genesis) as never, {
      chain: this.name,
      customCrypto,
    });
    preloadParams(this.base, [paramsTx, paramsBlock, paramsEVM, paramsVM]);
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

/**
 * Every ethereumjs transaction, header, EVM and VM copies its `Common` and calls
 * `updateParams(theirDefaults)`, which deep-copies the parameter tables through JSON and
 * rebuilds the parameter cache: ~80 us per transaction decoded, measured here, more than the
 * signature recovery. We merge those default tables into the base `Common` once and give it
 * (and, through `copy()`'s property copy, every copy of it) an `updateParams` that skips
 * tables already merged. Any other table still goes through the original method.
 */
function preloadParams(common: Common, tables: ParamsDict[]): void {
  const original = Common.prototype.updateParams;
  for (const table of tables) original.call(common, table);
  const merged = new WeakSet<ParamsDict>(tables);
  const fast = function (this: Common, params: ParamsDict): void {
    if (merged.has(params)) return;
    original.call(this, params);
  };
  Object.assign(common, { updateParams: fast });
}

/** Merge (Paris) blocks of public networks whose geth configs give only a terminal total difficulty. */
const KNOWN_MERGE_BLOCKS: Readonly<Record<number, number>> = { 1: 15_537_394, 11155111: 1_450_409 };

/**
 * ethereumjs' geth-genesis parser assumes a chain with any timestamp fork (Shanghai, ...) but no
 * `mergeNetsplitBlock` merged at block 0, which makes a proof-of-work history (mainnet's geth
 * config) post-merge from genesis on. For a known network whose merge is still pending at genesis
 * (terminal total difficulty above 0), this pins Paris at the network's real merge block.
 */
function withMergeBlock(genesis: GethGenesis): GethGenesis {
  const { config } = genesis;
  const mergeBlock = KNOWN_MERGE_BLOCKS[config.chainId];
  const ttd = config.terminalTotalDifficulty;
  const pendingMerge = ttd !== undefined && BigInt(ttd) > 0n && config.terminalTotalDifficultyPassed !== true;
  if (mergeBlock === undefined || !pendingMerge || config.mergeForkBlock !== undefined) return genesis;
  return { ...genesis, config: { ...config, mergeForkBlock: mergeBlock } };
}
