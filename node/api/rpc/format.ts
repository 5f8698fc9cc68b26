/**
 * JSON shapes of blocks, transactions, receipts and logs, as geth returns them: hex quantities
 * without leading zeros, 0x-data, `null` for unknown/pending fields, `blockTimestamp` and
 * `chainId` on transactions.
 */
import type { Block, BlockHeader } from "@ethereumjs/block";
import type { Log } from "@ethereumjs/evm";
import { Capability, type TypedTransaction } from "@ethereumjs/tx";
import {
  type Address,
  bigIntToHex,
  bigIntToUnpaddedBytes,
  bytesToHex,
  generateAddress,
} from "@ethereumjs/util";
import { logsBloom, type StoredReceipt } from "../../execution/chain/receipts.ts";

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const q = (n: bigint | number) => bigIntToHex(BigInt(n));
const d = (b: Uint8Array) => bytesToHex(b);

export function formatHeader(header: BlockHeader, size?: number): JsonObject {
  const out: JsonObject = {
    number: q(header.number),
    hash: d(header.hash()),
    parentHash: d(header.parentHash),
    sha3Uncles: d(header.uncleHash),
    miner: header.coinbase.toString(),
    stateRoot: d(header.stateRoot),
    transactionsRoot: d(header.transactionsTrie),
    receiptsRoot: d(header.receiptTrie),
    logsBloom: d(header.logsBloom),
    difficulty: q(header.difficulty),
    gasLimit: q(header.gasLimit),
    gasUsed: q(header.gasUsed),
    timestamp: q(header.timestamp),
    extraData: d(header.extraData),
    mixHash: d(header.mixHash),
    nonce: d(header.nonce),
  };
  if (header.baseFeePerGas !== undefined) out.baseFeePerGas = q(header.baseFeePerGas);
  if (header.withdrawalsRoot !== undefined) out.withdrawalsRoot = d(header.withdrawalsRoot);
  if (header.blobGasUsed !== undefined) out.blobGasUsed = q(header.blobGasUsed);
  if (header.excessBlobGas !== undefined) out.excessBlobGas = q(header.excessBlobGas);
  if (header.parentBeaconBlockRoot !== undefined) out.parentBeaconBlockRoot = d(header.parentBeaconBlockRoot);
  if (header.requestsHash !== undefined) out.requestsHash = d(header.requestsHash);
  if (size !== undefined) out.size = q(size);
  return out;
}

export interface TxContext {
  block?: Block;
  index?: number;
  sender: Address;
}

/** Gas price actually paid per gas at `baseFee` (the receipt's effectiveGasPrice). */
export function effectiveGasPrice(tx: TypedTransaction, baseFee: bigint | undefined): bigint {
  if ("maxFeePerGas" in tx) {
    if (baseFee === undefined) return tx.maxFeePerGas;
    const tip =
      tx.maxPriorityFeePerGas < tx.maxFeePerGas - baseFee
        ? tx.maxPriorityFeePerGas
        : tx.maxFeePerGas - baseFee;
    return baseFee + tip;
  }
  return (tx as { gasPrice: bigint }).gasPrice;
}

export function formatTx(tx: TypedTransaction, ctx: TxContext): JsonObject {
  const block = ctx.block;
  const out: JsonObject = {
    blockHash: block ? d(block.hash()) : null,
    blockNumber: block ? q(block.header.number) : null,
    blockTimestamp: block ? q(block.header.timestamp) : null,
    from: ctx.sender.toString(),
    gas: q(tx.gasLimit),
    gasPrice: q(block ? effectiveGasPrice(tx, block.header.baseFeePerGas) : effectiveGasPrice(tx, undefined)),
  };
  if ("maxFeePerGas" in tx) {
    out.maxFeePerGas = q(tx.maxFeePerGas);
    out.maxPriorityFeePerGas = q(tx.maxPriorityFeePerGas);
  }
  if ("maxFeePerBlobGas" in tx) {
    out.maxFeePerBlobGas = q((tx as { maxFeePerBlobGas: bigint }).maxFeePerBlobGas);
    out.blobVersionedHashes = (tx as unknown as { blobVersionedHashes: string[] }).blobVersionedHashes;
  }
  out.hash = d(tx.hash());
  out.input = d(tx.data);
  out.nonce = q(tx.nonce);
  out.to = tx.to === undefined ? null : tx.to.toString();
  out.transactionIndex = ctx.index === undefined || block === undefined ? null : q(ctx.index);
  out.value = q(tx.value);
  out.type = q(tx.type);
  if ("accessList" in tx) {
    out.accessList = (tx.accessList as [Uint8Array, Uint8Array[]][]).map(([address, keys]) => ({
      address: d(address),
      storageKeys: keys.map(d),
    }));
  }
  if (tx.type !== 0 || tx.supports(Capability.EIP155ReplayProtection)) out.chainId = q(tx.common.chainId());
  if ("authorizationList" in tx) {
    out.authorizationList = (tx.authorizationList as Uint8Array[][]).map(
      ([chainId, address, nonce, yParity, r, s]) => ({
        chainId: q(bytesToBigIntSafe(chainId)),
        address: d(address),
        nonce: q(bytesToBigIntSafe(nonce)),
        yParity: q(bytesToBigIntSafe(yParity)),
        r: q(bytesToBigIntSafe(r)),
        s: q(bytesToBigIntSafe(s)),
      }),
    );
  }
  const v = tx.v ?? 0n;
  out.v = q(v);
  out.r = q(tx.r ?? 0n);
  out.s = q(tx.s ?? 0n);
  if (tx.type !== 0) out.yParity = q(v);
  return out;
}

function bytesToBigIntSafe(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(bytesToHex(b));
}

export function formatBlock(
  block: Block,
  fullTransactions: boolean,
  senders: readonly Address[] | undefined,
): JsonObject {
  const out = formatHeader(block.header, block.serialize().length);
  out.transactions = block.transactions.map((tx, index) =>
    fullTransactions && senders !== undefined
      ? formatTx(tx, { block, index, sender: senders[index] })
      : d(tx.hash()),
  );
  out.uncles = block.uncleHeaders.map((u) => d(u.hash()));
  if (block.withdrawals !== undefined) {
    out.withdrawals = block.withdrawals.map((w) => ({
      index: q(w.index),
      validatorIndex: q(w.validatorIndex),
      address: w.address.toString(),
      amount: q(w.amount),
    }));
  }
  return out;
}

export function formatLog(
  log: Log,
  ctx: { block: Block; txIndex: number; txHash: Uint8Array; logIndex: number; removed?: boolean },
): JsonObject {
  const [address, topics, data] = log;
  return {
    address: d(address),
    topics: topics.map(d),
    data: d(data),
    blockNumber: q(ctx.block.header.number),
    transactionHash: d(ctx.txHash),
    transactionIndex: q(ctx.txIndex),
    blockHash: d(ctx.block.hash()),
    blockTimestamp: q(ctx.block.header.timestamp),
    logIndex: q(ctx.logIndex),
    removed: ctx.removed ?? false,
  };
}

/** All receipts of a block in RPC form. */
export function formatReceipts(
  block: Block,
  receipts: readonly StoredReceipt[],
  senders: readonly Address[],
): JsonObject[] {
  const out: JsonObject[] = [];
  let logIndex = 0;
  for (let i = 0; i < block.transactions.length; i++) {
    out.push(formatReceiptAt(block, receipts, senders, i, logIndex));
    logIndex += receipts[i].logs.length;
  }
  return out;
}

/** The receipt of transaction `i` in RPC form, without formatting the block's other receipts. */
export function formatReceipt(
  block: Block,
  receipts: readonly StoredReceipt[],
  senders: readonly Address[],
  i: number,
): JsonObject {
  let logIndex = 0;
  for (let j = 0; j < i; j++) logIndex += receipts[j].logs.length;
  return formatReceiptAt(block, receipts, senders, i, logIndex);
}

function formatReceiptAt(
  block: Block,
  receipts: readonly StoredReceipt[],
  senders: readonly Address[],
  i: number,
  firstLogIndex: number,
): JsonObject {
  const tx = block.transactions[i];
  const receipt = receipts[i];
  const sender = senders[i];
  const txHash = tx.hash();
  const previousGas = i === 0 ? 0n : receipts[i - 1].cumulativeGasUsed;
  let logIndex = firstLogIndex;
  const logs = receipt.logs.map((log) => formatLog(log, { block, txIndex: i, txHash, logIndex: logIndex++ }));
  const json: JsonObject = { type: q(tx.type) };
  if (receipt.stateRoot !== undefined) json.root = d(receipt.stateRoot);
  else json.status = q(receipt.status ?? 0);
  json.cumulativeGasUsed = q(receipt.cumulativeGasUsed);
  json.logs = logs;
  json.logsBloom = d(logsBloom(receipt.logs));
  json.transactionHash = d(txHash);
  json.transactionIndex = q(i);
  json.blockHash = d(block.hash());
  json.blockNumber = q(block.header.number);
  json.gasUsed = q(receipt.cumulativeGasUsed - previousGas);
  json.effectiveGasPrice = q(effectiveGasPrice(tx, block.header.baseFeePerGas));
  json.from = sender.toString();
  json.to = tx.to === undefined ? null : tx.to.toString();
  json.contractAddress =
    tx.to === undefined ? d(generateAddress(sender.bytes, bigIntToUnpaddedBytes(tx.nonce))) : null;
  if (tx.type === 3) {
    const blobs = (tx as unknown as { blobVersionedHashes: string[] }).blobVersionedHashes.length;
    json.blobGasUsed = q(BigInt(blobs) * 131072n);
    json.blobGasPrice = q(block.header.getBlobGasPrice());
  }
  return json;
}
