/**
 * The `config` namespace of the Beacon API: the spec values this node runs (chain config,
 * preset and constants, rendered as the spec's string map), the fork schedule and the deposit
 * contract.
 */
import type { routes } from "@lodestar/api";
import type { ApplicationMethods } from "@lodestar/api/server";
import { type BeaconConfig, chainConfigToJson, type SpecJson, specValuesToJson } from "@lodestar/config";
import {
  ATTESTATION_SUBNET_COUNT,
  activePreset,
  BASE_REWARDS_PER_EPOCH,
  BLOB_TX_TYPE,
  BLS_WITHDRAWAL_PREFIX,
  COMPOUNDING_WITHDRAWAL_PREFIX,
  DEPOSIT_CONTRACT_TREE_DEPTH,
  DOMAIN_AGGREGATE_AND_PROOF,
  DOMAIN_APPLICATION_BUILDER,
  DOMAIN_APPLICATION_MASK,
  DOMAIN_BEACON_ATTESTER,
  DOMAIN_BEACON_PROPOSER,
  DOMAIN_BLS_TO_EXECUTION_CHANGE,
  DOMAIN_CONTRIBUTION_AND_PROOF,
  DOMAIN_DEPOSIT,
  DOMAIN_RANDAO,
  DOMAIN_SELECTION_PROOF,
  DOMAIN_SYNC_COMMITTEE,
  DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF,
  DOMAIN_VOLUNTARY_EXIT,
  ETH1_ADDRESS_WITHDRAWAL_PREFIX,
  FAR_FUTURE_EPOCH,
  FULL_EXIT_REQUEST_AMOUNT,
  GENESIS_EPOCH,
  GENESIS_SLOT,
  JUSTIFICATION_BITS_LENGTH,
  PROPOSER_WEIGHT,
  presetToJson,
  SYNC_COMMITTEE_SUBNET_COUNT,
  SYNC_REWARD_WEIGHT,
  TARGET_AGGREGATORS_PER_COMMITTEE,
  TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE,
  TIMELY_HEAD_FLAG_INDEX,
  TIMELY_HEAD_WEIGHT,
  TIMELY_SOURCE_FLAG_INDEX,
  TIMELY_SOURCE_WEIGHT,
  TIMELY_TARGET_FLAG_INDEX,
  TIMELY_TARGET_WEIGHT,
  UNSET_DEPOSIT_REQUESTS_START_INDEX,
  VERSIONED_HASH_VERSION_KZG,
  WEIGHT_DENOMINATOR,
} from "@lodestar/params";

export type ConfigMethodId = "getSpec" | "getForkSchedule" | "getDepositContract";
export type ConfigMethods = Pick<ApplicationMethods<routes.config.Endpoints>, ConfigMethodId>;

/** Constants of the consensus specs (phase0 through Electra, the forks this chain runs). */
const SPEC_CONSTANTS = {
  GENESIS_SLOT,
  GENESIS_EPOCH,
  FAR_FUTURE_EPOCH,
  BASE_REWARDS_PER_EPOCH,
  DEPOSIT_CONTRACT_TREE_DEPTH,
  JUSTIFICATION_BITS_LENGTH,
  ENDIANNESS: "little",
  BLS_WITHDRAWAL_PREFIX,
  ETH1_ADDRESS_WITHDRAWAL_PREFIX,
  COMPOUNDING_WITHDRAWAL_PREFIX,
  DOMAIN_BEACON_PROPOSER,
  DOMAIN_BEACON_ATTESTER,
  DOMAIN_RANDAO,
  DOMAIN_DEPOSIT,
  DOMAIN_VOLUNTARY_EXIT,
  DOMAIN_SELECTION_PROOF,
  DOMAIN_AGGREGATE_AND_PROOF,
  DOMAIN_APPLICATION_MASK,
  DOMAIN_APPLICATION_BUILDER,
  DOMAIN_SYNC_COMMITTEE,
  DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF,
  DOMAIN_CONTRIBUTION_AND_PROOF,
  DOMAIN_BLS_TO_EXECUTION_CHANGE,
  TARGET_AGGREGATORS_PER_COMMITTEE,
  ATTESTATION_SUBNET_COUNT,
  TIMELY_SOURCE_FLAG_INDEX,
  TIMELY_TARGET_FLAG_INDEX,
  TIMELY_HEAD_FLAG_INDEX,
  TIMELY_SOURCE_WEIGHT,
  TIMELY_TARGET_WEIGHT,
  TIMELY_HEAD_WEIGHT,
  SYNC_REWARD_WEIGHT,
  PROPOSER_WEIGHT,
  WEIGHT_DENOMINATOR,
  TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE,
  SYNC_COMMITTEE_SUBNET_COUNT,
  BLOB_TX_TYPE,
  VERSIONED_HASH_VERSION_KZG,
  UNSET_DEPOSIT_REQUESTS_START_INDEX,
  FULL_EXIT_REQUEST_AMOUNT,
};

/** The `/eth/v1/config/spec` map: chain config, then the active preset, then constants. */
export function renderSpec(config: BeaconConfig): SpecJson {
  return { ...chainConfigToJson(config), ...presetToJson(activePreset), ...specValuesToJson(SPEC_CONSTANTS) };
}

export function configMethods(config: BeaconConfig): ConfigMethods {
  const spec = renderSpec(config);
  return {
    async getSpec() {
      return { data: spec };
    },

    async getForkSchedule() {
      const forks = Object.values(config.forks).sort((a, b) => a.seq - b.seq);
      return {
        data: forks.map((fork, i) => ({
          previousVersion: i === 0 ? fork.version : forks[i - 1].version,
          currentVersion: fork.version,
          epoch: fork.epoch,
        })),
      };
    },

    async getDepositContract() {
      return { data: { chainId: config.DEPOSIT_CHAIN_ID, address: config.DEPOSIT_CONTRACT_ADDRESS } };
    },
  };
}
