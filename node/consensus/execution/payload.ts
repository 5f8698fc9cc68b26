/**
 * Conversions between the Engine API's JSON payloads (hex quantities, camelCase) and the SSZ
 * values the beacon chain carries (electra.ExecutionPayload, electra.ExecutionRequests).
 */
import { bytesToHex, hexToBytes } from "@ethereumjs/util";
import { type electra, ssz } from "@lodestar/types";
import type { ExecutionPayloadV3, Hex, WithdrawalV1 } from "../../execution/engine/types.ts";

const b = (hex: string) => hexToBytes(hex as Hex);
const n = (hex: string) => Number(BigInt(hex));
const big = (hex: string) => BigInt(hex);
const h = (bytes: Uint8Array) => bytesToHex(bytes) as Hex;
const q = (value: number | bigint) => `0x${value.toString(16)}` as Hex;

export function payloadFromJson(json: ExecutionPayloadV3): electra.ExecutionPayload {
  return {
    parentHash: b(json.parentHash),
    feeRecipient: b(json.feeRecipient),
    stateRoot: b(json.stateRoot),
    receiptsRoot: b(json.receiptsRoot),
    logsBloom: b(json.logsBloom),
    prevRandao: b(json.prevRandao),
    blockNumber: n(json.blockNumber),
    gasLimit: n(json.gasLimit),
    gasUsed: n(json.gasUsed),
    timestamp: n(json.timestamp),
    extraData: b(json.extraData),
    baseFeePerGas: big(json.baseFeePerGas),
    blockHash: b(json.blockHash),
    transactions: json.transactions.map(b),
    withdrawals: json.withdrawals.map((w) => ({
      index: n(w.index),
      validatorIndex: n(w.validatorIndex),
      address: b(w.address),
      amount: big(w.amount),
    })),
    blobGasUsed: big(json.blobGasUsed),
    excessBlobGas: big(json.excessBlobGas),
  };
}

export function payloadToJson(p: electra.ExecutionPayload): ExecutionPayloadV3 {
  return {
    parentHash: h(p.parentHash),
    feeRecipient: h(p.feeRecipient),
    stateRoot: h(p.stateRoot),
    receiptsRoot: h(p.receiptsRoot),
    logsBloom: h(p.logsBloom),
    prevRandao: h(p.prevRandao),
    blockNumber: q(p.blockNumber),
    gasLimit: q(p.gasLimit),
    gasUsed: q(p.gasUsed),
    timestamp: q(p.timestamp),
    extraData: h(p.extraData),
    baseFeePerGas: q(p.baseFeePerGas),
    blockHash: h(p.blockHash),
    transactions: p.transactions.map(h),
    withdrawals: p.withdrawals.map((w) => withdrawalToJson(w)),
    blobGasUsed: q(p.blobGasUsed),
    excessBlobGas: q(p.excessBlobGas),
  };
}

export function withdrawalToJson(w: {
  index: number;
  validatorIndex: number;
  address: Uint8Array;
  amount: bigint;
}): WithdrawalV1 {
  return {
    index: q(w.index),
    validatorIndex: q(w.validatorIndex),
    address: h(w.address),
    amount: q(w.amount),
  };
}

const REQUEST_DEPOSIT = 0x00;
const REQUEST_WITHDRAWAL = 0x01;
const REQUEST_CONSOLIDATION = 0x02;

/** EIP-7685 request bytes (type-prefixed) from the EL into the beacon block's ExecutionRequests. */
export function requestsFromEngine(requests: readonly Hex[]): electra.ExecutionRequests {
  const out: electra.ExecutionRequests = { deposits: [], withdrawals: [], consolidations: [] };
  for (const item of requests) {
    const bytes = b(item);
    const data = bytes.subarray(1);
    switch (bytes[0]) {
      case REQUEST_DEPOSIT:
        out.deposits = ssz.electra.DepositRequests.deserialize(data);
        break;
      case REQUEST_WITHDRAWAL:
        out.withdrawals = ssz.electra.WithdrawalRequests.deserialize(data);
        break;
      case REQUEST_CONSOLIDATION:
        out.consolidations = ssz.electra.ConsolidationRequests.deserialize(data);
        break;
      default:
        throw new Error(`unknown execution request type ${bytes[0]}`);
    }
  }
  return out;
}

/** The beacon block's ExecutionRequests back into the Engine API's request list (empty ones omitted). */
export function requestsToEngine(requests: electra.ExecutionRequests): Hex[] {
  const out: Hex[] = [];
  const push = (type: number, data: Uint8Array) => {
    if (data.length === 0) return;
    const bytes = new Uint8Array(data.length + 1);
    bytes[0] = type;
    bytes.set(data, 1);
    out.push(h(bytes));
  };
  push(REQUEST_DEPOSIT, ssz.electra.DepositRequests.serialize(requests.deposits));
  push(REQUEST_WITHDRAWAL, ssz.electra.WithdrawalRequests.serialize(requests.withdrawals));
  push(REQUEST_CONSOLIDATION, ssz.electra.ConsolidationRequests.serialize(requests.consolidations));
  return out;
}
