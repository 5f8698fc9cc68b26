/**
 * The consensus layer's chain configuration: Lodestar's `ChainConfig` for an OpenGPU network.
 *
 * All forks through Electra are active at genesis (epoch 0), later ones are off (`Infinity`).
 * Fork versions are OpenGPU's own (`0x4f47` "OG", a network byte, the fork index), so signing
 * domains, and with them every signature, can never be replayed on Ethereum or on another
 * OpenGPU network. The preset (minimal / mainnet) is chosen process-wide by LODESTAR_PRESET before
 * @lodestar/params loads; `assertPreset` refuses to run a network on the wrong one.
 */

import { hexToBytes } from "@ethereumjs/util";
import { type ChainConfig, type ChainForkConfig, createChainForkConfig } from "@lodestar/config";
import { chainConfig as presetDefaults } from "@lodestar/config/default";
import { ACTIVE_PRESET, type PresetName } from "@lodestar/params";
import type { GethGenesis } from "../../genesis/types.ts";
import { OpenGpuError } from "../utils/errors.ts";

/** Consensus parameters of a network, stored with its genesis (`config.opengpu.consensus`). */
export interface ConsensusSpec {
  preset: "minimal" | "mainnet";
  /** Slot length in seconds. */
  secondsPerSlot: number;
  /** Distinguishes networks' fork versions (0 for dev networks). */
  networkByte: number;
  /** EL chain id the deposit contract lives on. */
  chainId: number;
  /** EIP-6110 deposit contract address (0x-hex). */
  depositContractAddress: string;
  /** SHARD_COMMITTEE_PERIOD override in epochs (dev networks). */
  shardCommitteePeriod?: number;
  /** MIN_VALIDATOR_WITHDRAWABILITY_DELAY override in epochs (dev networks). */
  withdrawabilityDelay?: number;
}

export const ConfigErrorCode = {
  /** The process runs another Lodestar preset than the network needs. */
  WRONG_PRESET: "CONSENSUS_WRONG_PRESET",
  /** The network definition has no consensus section (an EL-only test chain). */
  NO_CONSENSUS: "CONSENSUS_NOT_CONFIGURED",
  /** A genesis validator's deposit is invalid (bad signature) or the set cannot be built. */
  INVALID_GENESIS_VALIDATORS: "CONSENSUS_INVALID_GENESIS_VALIDATORS",
} as const;
export type ConfigErrorCode = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];
export class ConsensusConfigError extends OpenGpuError<ConfigErrorCode> {
  override name = "ConsensusConfigError";
}

export function assertPreset(spec: ConsensusSpec): void {
  if ((ACTIVE_PRESET as PresetName) !== spec.preset) {
    throw new ConsensusConfigError(
      ConfigErrorCode.WRONG_PRESET,
      `network needs the ${spec.preset} preset but this process loaded ${ACTIVE_PRESET}; start with LODESTAR_PRESET=${spec.preset}`,
    );
  }
}

function version(networkByte: number, fork: number): Uint8Array {
  return Uint8Array.of(0x4f, 0x47, networkByte & 0xff, fork);
}

/** GENESIS_FORK_VERSION of the network with this network byte (what deposits are signed for). */
export function genesisForkVersion(networkByte: number): Uint8Array {
  return version(networkByte, 0);
}

/** Lodestar's chain configuration for the network. */
export function chainConfigFor(spec: ConsensusSpec, name = "opengpu"): ChainConfig {
  const n = spec.networkByte;
  return {
    ...presetDefaults,
    PRESET_BASE: spec.preset as ChainConfig["PRESET_BASE"],
    CONFIG_NAME: name,
    MIN_GENESIS_ACTIVE_VALIDATOR_COUNT: 1,
    MIN_GENESIS_TIME: 0,
    GENESIS_DELAY: 0,
    GENESIS_FORK_VERSION: version(n, 0),
    ALTAIR_FORK_VERSION: version(n, 1),
    ALTAIR_FORK_EPOCH: 0,
    BELLATRIX_FORK_VERSION: version(n, 2),
    BELLATRIX_FORK_EPOCH: 0,
    CAPELLA_FORK_VERSION: version(n, 3),
    CAPELLA_FORK_EPOCH: 0,
    DENEB_FORK_VERSION: version(n, 4),
    DENEB_FORK_EPOCH: 0,
    ELECTRA_FORK_VERSION: version(n, 5),
    ELECTRA_FORK_EPOCH: 0,
    FULU_FORK_VERSION: version(n, 6),
    FULU_FORK_EPOCH: Number.POSITIVE_INFINITY,
    GLOAS_FORK_VERSION: version(n, 7),
    GLOAS_FORK_EPOCH: Number.POSITIVE_INFINITY,
    HEZE_FORK_VERSION: version(n, 8),
    HEZE_FORK_EPOCH: Number.POSITIVE_INFINITY,
    // Both must agree: the payload timestamp check uses SLOT_DURATION_MS.
    SECONDS_PER_SLOT: spec.secondsPerSlot,
    SLOT_DURATION_MS: spec.secondsPerSlot * 1000,
    DEPOSIT_CHAIN_ID: spec.chainId,
    DEPOSIT_NETWORK_ID: spec.chainId,
    DEPOSIT_CONTRACT_ADDRESS: hexToBytes(spec.depositContractAddress as `0x${string}`),
    SHARD_COMMITTEE_PERIOD: spec.shardCommitteePeriod ?? presetDefaults.SHARD_COMMITTEE_PERIOD,
    MIN_VALIDATOR_WITHDRAWABILITY_DELAY:
      spec.withdrawabilityDelay ?? presetDefaults.MIN_VALIDATOR_WITHDRAWABILITY_DELAY,
  };
}

export function forkConfigFor(spec: ConsensusSpec, name?: string): ChainForkConfig {
  return createChainForkConfig(chainConfigFor(spec, name));
}

/** The consensus parameters stored with a network's genesis; throws for EL-only chains. */
export function consensusSpecOf(genesis: GethGenesis): ConsensusSpec {
  const opengpu = genesis.config.opengpu;
  const consensus = opengpu?.consensus;
  const validators = opengpu?.validators;
  if (
    consensus === undefined ||
    validators === undefined ||
    genesis.config.depositContractAddress === undefined
  ) {
    throw new ConsensusConfigError(
      ConfigErrorCode.NO_CONSENSUS,
      "this chain's genesis defines no proof-of-stake parameters (consensus and validators): it can only run beside an external consensus client (--external-cl)",
    );
  }
  return {
    preset: consensus.preset,
    secondsPerSlot: consensus.secondsPerSlot,
    networkByte: consensus.networkByte,
    shardCommitteePeriod: consensus.shardCommitteePeriod,
    withdrawabilityDelay: consensus.withdrawabilityDelay,
    chainId: genesis.config.chainId,
    depositContractAddress: genesis.config.depositContractAddress,
  };
}
