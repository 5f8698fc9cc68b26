/**
 * Fee suggestions: eth_maxPriorityFeePerGas / eth_gasPrice (geth's oracle: the 60th percentile
 * of the lowest effective tips in recent blocks) and eth_feeHistory.
 */
import type { Block } from "@ethereumjs/block";
import { bigIntToHex } from "@ethereumjs/util";
import type { Blockchain } from "../../execution/chain/blockchain.ts";
import { effectiveGasPrice } from "./format.ts";

const BLOCKS = 20;
const PERCENTILE = 60;
/** Tips at or below this are ignored (geth's IgnorePrice). */
const IGNORE_PRICE = 2n;
/** Used when recent blocks hold no transactions to learn from. */
const DEFAULT_TIP = 1_000_000_000n;
const MAX_PRICE = 500_000_000_000n;

function tipsOf(block: Block): bigint[] {
  const baseFee = block.header.baseFeePerGas ?? 0n;
  return block.transactions
    .map((tx) => effectiveGasPrice(tx, baseFee) - baseFee)
    .filter((tip) => tip > IGNORE_PRICE)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, 3);
}

export function suggestTip(chain: Blockchain): bigint {
  const samples: bigint[] = [];
  let number = chain.head.header.number;
  for (let i = 0; i < BLOCKS && number >= 0n; i++, number--) {
    const block = chain.store.getBlockByNumber(number);
    if (block === undefined) break;
    samples.push(...tipsOf(block));
  }
  if (samples.length === 0) return DEFAULT_TIP;
  samples.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const tip = samples[Math.floor(((samples.length - 1) * PERCENTILE) / 100)];
  return tip > MAX_PRICE ? MAX_PRICE : tip;
}

export interface FeeHistory {
  oldestBlock: string;
  baseFeePerGas: string[];
  gasUsedRatio: number[];
  baseFeePerBlobGas: string[];
  blobGasUsedRatio: number[];
  reward?: string[][];
}

function rewards(block: Block, percentiles: number[], chain: Blockchain): string[] {
  const baseFee = block.header.baseFeePerGas ?? 0n;
  if (block.transactions.length === 0) return percentiles.map(() => "0x0");
  const receipts = chain.store.getReceipts(block.hash()) ?? [];
  let previous = 0n;
  const items = block.transactions.map((tx, i) => {
    const used = (receipts[i]?.cumulativeGasUsed ?? previous) - previous;
    previous = receipts[i]?.cumulativeGasUsed ?? previous;
    return { tip: effectiveGasPrice(tx, baseFee) - baseFee, gas: used };
  });
  items.sort((a, b) => (a.tip < b.tip ? -1 : a.tip > b.tip ? 1 : 0));
  const total = block.header.gasUsed;
  return percentiles.map((p) => {
    const threshold = (total * BigInt(Math.round(p * 100))) / 10_000n;
    let sum = 0n;
    for (const item of items) {
      sum += item.gas;
      if (sum >= threshold) return bigIntToHex(item.tip);
    }
    return bigIntToHex(items[items.length - 1].tip);
  });
}

/** eth_feeHistory over `count` blocks ending at `newest` (already resolved and capped). */
export function feeHistory(
  chain: Blockchain,
  count: bigint,
  newest: bigint,
  percentiles: number[] | undefined,
): FeeHistory {
  const oldest = newest - count + 1n < 0n ? 0n : newest - count + 1n;
  const baseFees: string[] = [];
  const ratios: number[] = [];
  const blobFees: string[] = [];
  const blobRatios: number[] = [];
  const reward: string[][] = [];
  let last: Block | undefined;
  for (let n = oldest; n <= newest; n++) {
    const block = chain.store.getBlockByNumber(n);
    if (block === undefined) break;
    last = block;
    const h = block.header;
    baseFees.push(bigIntToHex(h.baseFeePerGas ?? 0n));
    ratios.push(h.gasLimit === 0n ? 0 : Number(h.gasUsed) / Number(h.gasLimit));
    const blobCommon = block.common;
    blobFees.push(bigIntToHex(blobCommon.isActivatedEIP(4844) ? h.getBlobGasPrice() : 0n));
    const maxBlobGas = blobCommon.isActivatedEIP(4844)
      ? blobCommon.getBlobGasSchedule().maxBlobGasPerBlock
      : 0n;
    blobRatios.push(maxBlobGas === 0n ? 0 : Number(h.blobGasUsed ?? 0n) / Number(maxBlobGas));
    if (percentiles !== undefined) reward.push(rewards(block, percentiles, chain));
  }
  if (last !== undefined) {
    baseFees.push(bigIntToHex(last.header.common.isActivatedEIP(1559) ? last.header.calcNextBaseFee() : 0n));
    const nextCommon = chain.config.commonAt(last.header.number + 1n, last.header.timestamp + 1n);
    blobFees.push(
      bigIntToHex(
        nextCommon.isActivatedEIP(4844) && last.common.isActivatedEIP(4844) ? nextBlobFee(last, chain) : 0n,
      ),
    );
  }
  const out: FeeHistory = {
    oldestBlock: bigIntToHex(oldest),
    baseFeePerGas: baseFees,
    gasUsedRatio: ratios,
    baseFeePerBlobGas: blobFees,
    blobGasUsedRatio: blobRatios,
  };
  if (percentiles !== undefined) out.reward = reward;
  return out;
}

/** EIP-4844 fake_exponential(factor, numerator, denominator). */
function fakeExponential(factor: bigint, numerator: bigint, denominator: bigint): bigint {
  let i = 1n;
  let output = 0n;
  let accum = factor * denominator;
  while (accum > 0n) {
    output += accum;
    accum = (accum * numerator) / (denominator * i);
    i++;
  }
  return output / denominator;
}

/** Blob base fee of the block after `block`. */
export function nextBlobFee(block: Block, chain: Blockchain): bigint {
  const nextCommon = chain.config.commonAt(block.header.number + 1n, block.header.timestamp + 1n);
  const excess = block.header.calcNextExcessBlobGas(nextCommon);
  const fraction = BigInt(block.header.common.getBlobGasSchedule().blobGasPriceUpdateFraction);
  return fakeExponential(1n, excess, fraction);
}
