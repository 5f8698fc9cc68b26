/** Conversions between blocks and Engine API execution payloads. */
import { Block, type BlockHeader, createBlockHeader, genRequestsRoot } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import { RLP } from "@ethereumjs/rlp";
import { createTxFromRLP, type TypedTransaction } from "@ethereumjs/tx";
import {
  bigIntToHex,
  bytesToHex,
  CLRequest,
  type CLRequestType,
  createWithdrawal,
  equalsBytes,
  hexToBytes,
  type Withdrawal,
} from "@ethereumjs/util";
import { sha256 } from "ethereum-cryptography/sha256";
import { orderedTrieRoot, rememberTxBytes, transactionsRoot, txBytes } from "../trie/index.ts";
import type { ExecutionPayloadV3, Hex, WithdrawalV1 } from "./types.ts";

export class PayloadError extends Error {
  override name = "PayloadError";
  readonly blockHashMismatch: boolean;
  constructor(message: string, blockHashMismatch = false) {
    super(message);
    this.blockHashMismatch = blockHashMismatch;
  }
}

const hex = (b: Uint8Array) => bytesToHex(b) as Hex;
const qty = (n: bigint) => bigIntToHex(n) as Hex;

export function withdrawalToJson(w: Withdrawal): WithdrawalV1 {
  return {
    index: qty(w.index),
    validatorIndex: qty(w.validatorIndex),
    address: hex(w.address.bytes),
    amount: qty(w.amount),
  };
}

export function blockToPayload(block: Block): ExecutionPayloadV3 {
  const h = block.header;
  return {
    parentHash: hex(h.parentHash),
    feeRecipient: hex(h.coinbase.bytes),
    stateRoot: hex(h.stateRoot),
    receiptsRoot: hex(h.receiptTrie),
    logsBloom: hex(h.logsBloom),
    prevRandao: hex(h.mixHash),
    blockNumber: qty(h.number),
    gasLimit: qty(h.gasLimit),
    gasUsed: qty(h.gasUsed),
    timestamp: qty(h.timestamp),
    extraData: hex(h.extraData),
    baseFeePerGas: qty(h.baseFeePerGas ?? 0n),
    blockHash: hex(block.hash()),
    transactions: block.transactions.map((tx) => hex(txBytes(tx))),
    withdrawals: (block.withdrawals ?? []).map(withdrawalToJson),
    blobGasUsed: qty(h.blobGasUsed ?? 0n),
    excessBlobGas: qty(h.excessBlobGas ?? 0n),
  };
}

/** Decodes EIP-7685 execution requests (type-prefixed, ordered, non-empty). */
export function decodeRequests(raw: Hex[]): CLRequest<CLRequestType>[] {
  const out: CLRequest<CLRequestType>[] = [];
  let lastType = -1;
  for (const item of raw) {
    const bytes = hexToBytes(item);
    if (bytes.length < 2) throw new PayloadError("empty execution request");
    if (bytes[0] <= lastType)
      throw new PayloadError("execution requests not in strictly ascending type order");
    lastType = bytes[0];
    out.push(new CLRequest(bytes[0] as CLRequestType, bytes.subarray(1)));
  }
  return out;
}

/** Non-empty requests as the Engine API carries them. */
export function encodeRequests(requests: readonly CLRequest<CLRequestType>[] | undefined): Hex[] {
  return (requests ?? []).filter((r) => r.bytes.length > 1).map((r) => hex(r.bytes));
}

export interface PayloadContext {
  parentBeaconBlockRoot?: Hex;
  executionRequests?: Hex[];
}

/**
 * Rebuilds the block a payload describes and checks its hash. Transactions are decoded once
 * with the rules of the block's fork.
 */
export async function payloadToBlock(
  payload: ExecutionPayloadV3,
  common: Common,
  ctx: PayloadContext,
): Promise<Block> {
  const txs: TypedTransaction[] = [];
  for (const [i, raw] of payload.transactions.entries()) {
    try {
      const bytes = hexToBytes(raw);
      const tx = createTxFromRLP(bytes, { common });
      rememberTxBytes(tx, bytes);
      txs.push(tx);
    } catch (err) {
      throw new PayloadError(`invalid transaction at index ${i}: ${(err as Error).message}`);
    }
  }
  const withdrawals = common.isActivatedEIP(4895)
    ? (payload.withdrawals ?? []).map(createWithdrawal)
    : undefined;
  const requestsHash =
    common.isActivatedEIP(7685) && ctx.executionRequests !== undefined
      ? genRequestsRoot(decodeRequests(ctx.executionRequests), sha256)
      : undefined;
  let header: BlockHeader;
  try {
    header = createBlockHeader(
      {
        parentHash: payload.parentHash,
        coinbase: payload.feeRecipient,
        stateRoot: payload.stateRoot,
        receiptTrie: payload.receiptsRoot,
        logsBloom: payload.logsBloom,
        mixHash: payload.prevRandao,
        number: payload.blockNumber,
        gasLimit: payload.gasLimit,
        gasUsed: payload.gasUsed,
        timestamp: payload.timestamp,
        extraData: payload.extraData,
        baseFeePerGas: payload.baseFeePerGas,
        transactionsTrie: transactionsRoot(txs),
        withdrawalsRoot:
          withdrawals !== undefined
            ? orderedTrieRoot(withdrawals.map((w) => RLP.encode(w.raw())))
            : undefined,
        blobGasUsed: common.isActivatedEIP(4844) ? payload.blobGasUsed : undefined,
        excessBlobGas: common.isActivatedEIP(4844) ? payload.excessBlobGas : undefined,
        parentBeaconBlockRoot: common.isActivatedEIP(4788) ? ctx.parentBeaconBlockRoot : undefined,
        requestsHash,
        difficulty: 0n,
        nonce: new Uint8Array(8),
      },
      { common },
    );
  } catch (err) {
    throw new PayloadError(`invalid payload header: ${(err as Error).message}`);
  }
  const block = new Block(header, txs, [], withdrawals, { common });
  if (!equalsBytes(block.hash(), hexToBytes(payload.blockHash))) {
    throw new PayloadError(
      `invalid block hash: payload says ${payload.blockHash}, computed ${bytesToHex(block.hash())}`,
      true,
    );
  }
  return block;
}
