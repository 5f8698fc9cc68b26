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

import { PublicKey, type SecretKey, Signature, verify } from "@chainsafe/blst";
import { Tree, toGindex } from "@chainsafe/persistent-merkle-tree";
import type { Block } from "@ethereumjs/block";
import { bytesToHex, hexToBytes } from "@ethereumjs/util";
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
import { parseOgpu } from "../../genesis/token.ts";
import type { GethGenesis } from "../../genesis/types.ts";
import { ConfigErrorCode, ConsensusConfigError } from "./config.ts";

export interface GenesisValidator {
  /** 48-byte BLS public key. */
  pubkey: Uint8Array;
  withdrawalCredentials: Uint8Array;
  /** Stake in Gwei. */
  amountGwei: number;
  /** Deposit signature (from deposit data); interop validators sign with `secretKey` instead. */
  signature?: Uint8Array;
  secretKey?: SecretKey;
}

/** A dev-network validator: its key is public (the interop key of its index). */
export type InteropValidator = GenesisValidator & { secretKey: SecretKey };

/** Dev-network validators: interop keys 0..count-1. */
export function interopValidators(
  count: number,
  withdrawalAddress: (i: number) => Uint8Array,
  amountGwei: number,
): InteropValidator[] {
  return Array.from({ length: count }, (_, i) => {
    const secretKey = interopSecretKey(i);
    return {
      secretKey,
      pubkey: secretKey.toPublicKey().toBytes(),
      withdrawalCredentials: withdrawalCredentials(withdrawalAddress(i)),
      amountGwei,
    };
  });
}

export function withdrawalCredentials(address: Uint8Array): Uint8Array {
  const credentials = new Uint8Array(32);
  credentials[0] = ETH1_ADDRESS_WITHDRAWAL_PREFIX;
  credentials.set(address, 12);
  return credentials;
}

function unhex(text: string): Uint8Array {
  return hexToBytes((text.startsWith("0x") ? text : `0x${text}`) as `0x${string}`);
}

/**
 * The genesis validator set a network's genesis defines (`config.opengpu.validators`): its
 * deposit data, or, without deposits, the interop keys with the builder's withdrawal addresses.
 */
export function genesisValidatorsOf(genesis: GethGenesis): GenesisValidator[] {
  const spec = genesis.config.opengpu?.validators;
  if (spec === undefined) {
    throw new ConsensusConfigError(
      ConfigErrorCode.NO_CONSENSUS,
      "this chain's genesis defines no genesis validators (config.opengpu.validators)",
    );
  }
  if (spec.deposits !== undefined) {
    return spec.deposits.map((d) => ({
      pubkey: unhex(d.pubkey),
      withdrawalCredentials: unhex(d.withdrawal_credentials),
      amountGwei: d.amount,
      signature: unhex(d.signature),
    }));
  }
  const amountGwei = Number(parseOgpu(spec.balance ?? "32") / 10n ** 9n);
  const addresses = spec.withdrawalAddresses ?? [];
  return interopValidators(
    spec.count,
    (i) => (addresses[i] !== undefined ? unhex(addresses[i]) : new Uint8Array(20)),
    amountGwei,
  );
}

/** The keys of the interop validators among `validators` (dev networks run all of them). */
export function interopKeys(
  validators: readonly GenesisValidator[],
): { secretKey: SecretKey; pubkey: Uint8Array }[] {
  const keys: { secretKey: SecretKey; pubkey: Uint8Array }[] = [];
  for (const v of validators)
    if (v.secretKey !== undefined) keys.push({ secretKey: v.secretKey, pubkey: v.pubkey });
  return keys;
}

/** Whether the genesis validators are the public interop keys (dev and test networks). */
export function usesInteropValidators(genesis: GethGenesis): boolean {
  const spec = genesis.config.opengpu?.validators;
  return spec !== undefined && spec.deposits === undefined;
}

/**
 * Signed deposits with Merkle proofs against the growing deposit tree, in order. A deposit whose
 * signature does not verify is refused here (the state transition would silently skip it and
 * leave its stake without a validator).
 */
export function genesisDeposits(
  config: ChainForkConfig,
  validators: readonly GenesisValidator[],
): { deposits: phase0.Deposit[]; roots: ReturnType<typeof ssz.phase0.DepositDataRootList.defaultViewDU> } {
  const tree = ssz.phase0.DepositDataRootList.defaultViewDU();
  const depth = ssz.phase0.DepositDataRootList.depth;
  const domain = computeDomain(DOMAIN_DEPOSIT, config.GENESIS_FORK_VERSION, ZERO_HASH);
  const deposits = validators.map((v, i) => {
    const message = {
      pubkey: v.pubkey,
      withdrawalCredentials: v.withdrawalCredentials,
      amount: v.amountGwei,
    };
    const signingRoot = computeSigningRoot(ssz.phase0.DepositMessage, message, domain);
    let signature: Uint8Array;
    if (v.signature !== undefined) {
      signature = v.signature;
      let valid = false;
      try {
        valid = verify(
          signingRoot,
          PublicKey.fromBytes(v.pubkey, true),
          Signature.fromBytes(signature, true),
        );
      } catch {
        valid = false;
      }
      if (!valid) {
        throw new ConsensusConfigError(
          ConfigErrorCode.INVALID_GENESIS_VALIDATORS,
          `genesis validator ${i} (${bytesToHex(v.pubkey)}): deposit signature does not verify for fork version ${bytesToHex(config.GENESIS_FORK_VERSION)}`,
          { index: i },
        );
      }
    } else if (v.secretKey !== undefined) {
      signature = v.secretKey.sign(signingRoot).toBytes();
    } else {
      throw new ConsensusConfigError(
        ConfigErrorCode.INVALID_GENESIS_VALIDATORS,
        `genesis validator ${i} (${bytesToHex(v.pubkey)}) has neither a deposit signature nor a key`,
        { index: i },
      );
    }
    const data: phase0.DepositData = { ...message, signature };
    tree.push(ssz.phase0.DepositData.hashTreeRoot(data));
    tree.commit();
    const proof = new Tree(tree.node).getSingleProof(toGindex(depth, BigInt(i)));
    return { proof, data };
  });
  return { deposits, roots: tree };
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
  const { deposits, roots } = genesisDeposits(config, validators);
  const state = initializeBeaconStateFromEth1(
    config,
    createEmptyEpochCacheImmutableData(config, { genesisValidatorsRoot: ZERO_HASH }),
    elGenesis.hash(),
    Number(elGenesis.header.timestamp),
    deposits,
    // The deposit roots computed once: without them Lodestar re-hashes every earlier deposit for
    // each new one (quadratic; 1,024 validators took ~10 s).
    roots,

    executionHeaderOf(elGenesis) as never,
  );
  return state;
}
