/**
 * Header checks against the parent (what ethereumjs' `runBlock` leaves to the blockchain).
 * Body commitments (tx root, withdrawals root, uncle hash, signatures) and execution results
 * are checked by `runBlock` itself. Pre-merge proof-of-work seals are not verified (imported
 * history only), but difficulty must follow the protocol's formula.
 */
import type { BlockHeader } from "@ethereumjs/block";
import { Hardfork } from "@ethereumjs/common";
import { bytesToHex, equalsBytes, KECCAK256_RLP_ARRAY } from "@ethereumjs/util";
import type { ChainConfig } from "../chain/config.ts";
import { ChainError, ChainErrorCode } from "../errors.ts";

function fail(header: BlockHeader, why: string): never {
  throw new ChainError(ChainErrorCode.INVALID_HEADER, `invalid header ${header.number}: ${why}`, {
    number: header.number,
  });
}

export function validateHeader(header: BlockHeader, parent: BlockHeader, config: ChainConfig): void {
  if (!equalsBytes(header.parentHash, parent.hash())) fail(header, "parent hash mismatch");
  if (header.number !== parent.number + 1n)
    fail(header, `number ${header.number} does not follow parent ${parent.number}`);
  if (header.timestamp <= parent.timestamp) {
    fail(header, `timestamp ${header.timestamp} not after parent's ${parent.timestamp}`);
  }
  if (header.extraData.length > 32) fail(header, `extra data of ${header.extraData.length} bytes exceeds 32`);
  if (header.gasUsed > header.gasLimit)
    fail(header, `gas used ${header.gasUsed} exceeds gas limit ${header.gasLimit}`);
  const common = config.commonAt(header.number, header.timestamp);
  const parentCommon = config.commonAt(parent.number, parent.timestamp);
  const londonBlock = common.isActivatedEIP(1559) && !parentCommon.isActivatedEIP(1559);
  if (!londonBlock) {
    try {
      header.validateGasLimit(parent);
    } catch (err) {
      fail(header, (err as Error).message);
    }
  }
  if (common.isActivatedEIP(1559)) {
    const expected = londonBlock ? common.param("initialBaseFee") : parent.calcNextBaseFee();
    if (header.baseFeePerGas !== expected) {
      fail(header, `base fee ${header.baseFeePerGas} expected ${expected}`);
    }
  }
  if (common.isActivatedEIP(4844)) {
    const expected = parentCommon.isActivatedEIP(4844) ? parent.calcNextExcessBlobGas(common) : 0n;
    if (header.excessBlobGas !== expected)
      fail(header, `excess blob gas ${header.excessBlobGas} expected ${expected}`);
  }
  if (common.gteHardfork(Hardfork.Paris)) {
    if (header.difficulty !== 0n) fail(header, "post-merge difficulty must be 0");
    if (!equalsBytes(header.nonce, new Uint8Array(8))) fail(header, "post-merge nonce must be 0");
    if (!equalsBytes(header.uncleHash, KECCAK256_RLP_ARRAY)) {
      fail(header, `post-merge uncle hash ${bytesToHex(header.uncleHash)} must be the empty list hash`);
    }
  } else if (header.difficulty !== header.ethashCanonicalDifficulty(parent)) {
    fail(header, `difficulty ${header.difficulty} expected ${header.ethashCanonicalDifficulty(parent)}`);
  }
}
