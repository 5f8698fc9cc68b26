/**
 * The beacon genesis state of an OpenGPU network, built from the execution genesis block and
 * the genesis validator set.
 *
 * Genesis validators enter through deposits with valid Merkle proofs (the same path as any
 * later Ethereum deposit), with 0x01 withdrawal credentials pointing at execution addresses so
 * withdrawals arrive on the EL. For dev networks the keys are the standard interop keys.
 * The state's latest execution payload header is the EL genesis block: the first beacon block
 * builds on it.
 */

import type { SecretKey } from "@chainsafe/blst";
import { Tree, toGindex } from "@chainsafe/persistent-merkle-tree";
import type { Block } from "@ethereumjs/block";
import type { ChainForkConfig } from "@lodestar/config";
import { DOMAIN_DEPOSIT, ETH1_ADDRESS_WITHDRAWAL_PREFIX } from "@lodestar/params";
import {
  type CachedBeaconStateAllForks,
  computeDomain,
  computeSigningRoot,
  createEmptyEpochCacheImmutableData,
  initializeBeaconStateFromEth1,
  interopSecretKey,
  ZERO_HASH,
} from "@lodestar/state-transition";
import { type phase0, ssz } from "@lodestar/types";

export interface GenesisValidator {
  secretKey: SecretKey;
  /** 20-byte execution address receiving withdrawals. */
  withdrawalAddress: Uint8Array;
  /** Stake in Gwei. */
  amountGwei: number;
}

/** Dev-network validators: interop keys 0..count-1. */
export function interopValidators(
  count: number,
  withdrawalAddress: (i: number) => Uint8Array,
  amountGwei: number,
): GenesisValidator[] {
  return Array.from({ length: count }, (_, i) => ({
    secretKey: interopSecretKey(i),
    withdrawalAddress: withdrawalAddress(i),
    amountGwei,
  }));
}

export function withdrawalCredentials(address: Uint8Array): Uint8Array {
  const credentials = new Uint8Array(32);
  credentials[0] = ETH1_ADDRESS_WITHDRAWAL_PREFIX;
  credentials.set(address, 12);
  return credentials;
}

/** Signed deposits with Merkle proofs against the growing deposit tree, in order. */
export function genesisDeposits(
  config: ChainForkConfig,
  validators: readonly GenesisValidator[],
): phase0.Deposit[] {
  const tree = ssz.phase0.DepositDataRootList.defaultViewDU();
  const depth = ssz.phase0.DepositDataRootList.depth;
  const domain = computeDomain(DOMAIN_DEPOSIT, config.GENESIS_FORK_VERSION, ZERO_HASH);
  return validators.map((v, i) => {
    const data: phase0.DepositData = {
      pubkey: v.secretKey.toPublicKey().toBytes(),
      withdrawalCredentials: withdrawalCredentials(v.withdrawalAddress),
      amount: v.amountGwei,
      signature: new Uint8Array(96),
    };
    data.signature = v.secretKey.sign(computeSigningRoot(ssz.phase0.DepositMessage, data, domain)).toBytes();
    tree.push(ssz.phase0.DepositData.hashTreeRoot(data));
    tree.commit();
    const proof = new Tree(tree.node).getSingleProof(toGindex(depth, BigInt(i)));
    return { proof, data };
  });
}

/** The Electra execution payload header describing the EL genesis block. */
export function executionHeaderOf(block: Block) {
  const h = block.header;
  const header = ssz.electra.ExecutionPayloadHeader.defaultViewDU();
  header.parentHash = h.parentHash;
  header.feeRecipient = h.coinbase.bytes;
  header.stateRoot = h.stateRoot;
  header.receiptsRoot = h.receiptTrie;
  header.logsBloom = h.logsBloom;
  header.prevRandao = h.mixHash;
  header.blockNumber = Number(h.number);
  header.gasLimit = Number(h.gasLimit);
  header.gasUsed = Number(h.gasUsed);
  header.timestamp = Number(h.timestamp);
  header.extraData = h.extraData;
  header.baseFeePerGas = h.baseFeePerGas ?? 0n;
  header.blockHash = block.hash();
  header.transactionsRoot = ssz.bellatrix.Transactions.hashTreeRoot([]);
  header.withdrawalsRoot = ssz.capella.Withdrawals.hashTreeRoot([]);
  header.blobGasUsed = h.blobGasUsed ?? 0n;
  header.excessBlobGas = h.excessBlobGas ?? 0n;
  return header;
}

/** Builds the genesis state; genesis time is the EL genesis block's timestamp. */
export function buildBeaconGenesis(
  config: ChainForkConfig,
  elGenesis: Block,
  validators: readonly GenesisValidator[],
): CachedBeaconStateAllForks {
  const deposits = genesisDeposits(config, validators);
  const state = initializeBeaconStateFromEth1(
    config,
    createEmptyEpochCacheImmutableData(config, { genesisValidatorsRoot: ZERO_HASH }),
    elGenesis.hash(),
    Number(elGenesis.header.timestamp),
    deposits,
    undefined,
    executionHeaderOf(elGenesis) as never,
  );
  return state;
}
