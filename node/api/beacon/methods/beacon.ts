/**
 * The `beacon` namespace of the Beacon API: genesis, block headers, blocks (JSON and SSZ),
 * block roots, and state queries (root, fork, finality checkpoints, validators, balances,
 * committees). Request parsing and response encoding are @lodestar/api's route codecs; these
 * methods only answer in their typed values.
 */
import { hexToBytes } from "@ethereumjs/util";
import type { routes } from "@lodestar/api";
import { ApiError, type ApplicationMethods } from "@lodestar/api/server";
import { ForkName } from "@lodestar/params";
import { computeEpochAtSlot } from "@lodestar/state-transition";
import { ssz } from "@lodestar/types";
import { type ChainView, parseRoot, type ResolvedBlock } from "../chain-view.ts";
import {
  epochCommittees,
  validatorBalances,
  validatorIndices,
  validatorResponse,
  validatorResponses,
} from "../validators.ts";

export type BeaconMethodId =
  | "getGenesis"
  | "getBlockHeaders"
  | "getBlockHeader"
  | "getBlockV2"
  | "getBlockRoot"
  | "getStateRoot"
  | "getStateFork"
  | "getStateFinalityCheckpoints"
  | "getStateValidators"
  | "postStateValidators"
  | "getStateValidator"
  | "getStateValidatorBalances"
  | "postStateValidatorBalances"
  | "getEpochCommittees";

export type BeaconMethods = Pick<ApplicationMethods<routes.beacon.Endpoints>, BeaconMethodId>;

/** No payload is ever imported before the execution layer validated it: nothing is optimistic. */
const EXECUTION_OPTIMISTIC = false;

function blockMeta(block: ResolvedBlock) {
  return { executionOptimistic: EXECUTION_OPTIMISTIC, finalized: block.finalized };
}

export function beaconMethods(view: ChainView): BeaconMethods {
  const chain = view.chain;
  const config = chain.config;
  return {
    async getGenesis() {
      return {
        data: {
          genesisTime: chain.clock.genesisTime,
          genesisValidatorsRoot: config.genesisValidatorsRoot,
          genesisForkVersion: config.GENESIS_FORK_VERSION,
        },
      };
    },

    async getBlockHeaders({ slot, parentRoot }) {
      const blocks = view.findBlocks({
        slot,
        parentRoot: parentRoot === undefined ? undefined : parseRoot(parentRoot, "parent_root"),
      });
      return {
        data: blocks.map((block) => view.header(block)),
        meta: {
          executionOptimistic: EXECUTION_OPTIMISTIC,
          finalized: blocks.length > 0 && blocks.every((block) => block.finalized),
        },
      };
    },

    async getBlockHeader({ blockId }) {
      const block = view.resolveBlock(String(blockId));
      return { data: view.header(block), meta: blockMeta(block) };
    },

    async getBlockV2({ blockId }, context) {
      const block = view.resolveBlock(String(blockId));
      // Blocks are stored as Electra SSZ; SSZ responses send the stored bytes as they are.
      const meta = { ...blockMeta(block), version: ForkName.electra };
      if (context?.returnBytes === true) {
        const bytes =
          chain.db.getBlockBytes(hexToBytes(block.root as `0x${string}`)) ??
          ssz.electra.SignedBeaconBlock.serialize(block.block);
        return { data: bytes, meta };
      }
      return { data: block.block, meta };
    },

    async getBlockRoot({ blockId }) {
      const block = view.resolveBlock(String(blockId));
      return { data: { root: hexToBytes(block.root as `0x${string}`) }, meta: blockMeta(block) };
    },

    async getStateRoot({ stateId }) {
      const { state, finalized } = await view.resolveState(String(stateId));
      return {
        data: { root: state.hashTreeRoot() },
        meta: { executionOptimistic: EXECUTION_OPTIMISTIC, finalized },
      };
    },

    async getStateFork({ stateId }) {
      const { state, finalized } = await view.resolveState(String(stateId));
      return {
        data: state.fork.toValue(),
        meta: { executionOptimistic: EXECUTION_OPTIMISTIC, finalized },
      };
    },

    async getStateFinalityCheckpoints({ stateId }) {
      const { state, finalized } = await view.resolveState(String(stateId));
      return {
        data: {
          previousJustified: state.previousJustifiedCheckpoint.toValue(),
          currentJustified: state.currentJustifiedCheckpoint.toValue(),
          finalized: state.finalizedCheckpoint.toValue(),
        },
        meta: { executionOptimistic: EXECUTION_OPTIMISTIC, finalized },
      };
    },

    async getStateValidators({ stateId, validatorIds, statuses }) {
      const { state, finalized } = await view.resolveState(String(stateId));
      return {
        data: validatorResponses(state, validatorIds, statuses),
        meta: { executionOptimistic: EXECUTION_OPTIMISTIC, finalized },
      };
    },

    async postStateValidators({ stateId, validatorIds, statuses }) {
      const { state, finalized } = await view.resolveState(String(stateId));
      return {
        data: validatorResponses(state, validatorIds, statuses),
        meta: { executionOptimistic: EXECUTION_OPTIMISTIC, finalized },
      };
    },

    async getStateValidator({ stateId, validatorId }) {
      const { state, finalized } = await view.resolveState(String(stateId));
      const [index] = validatorIndices(state, [validatorId]);
      if (index === undefined) throw new ApiError(404, `Validator ${validatorId} not found`);
      return {
        data: validatorResponse(state, index, computeEpochAtSlot(state.slot)),
        meta: { executionOptimistic: EXECUTION_OPTIMISTIC, finalized },
      };
    },

    async getStateValidatorBalances({ stateId, validatorIds }) {
      const { state, finalized } = await view.resolveState(String(stateId));
      return {
        data: validatorBalances(state, validatorIds),
        meta: { executionOptimistic: EXECUTION_OPTIMISTIC, finalized },
      };
    },

    async postStateValidatorBalances({ stateId, validatorIds }) {
      const { state, finalized } = await view.resolveState(String(stateId));
      return {
        data: validatorBalances(state, validatorIds),
        meta: { executionOptimistic: EXECUTION_OPTIMISTIC, finalized },
      };
    },

    async getEpochCommittees({ stateId, epoch, index, slot }) {
      const { state, finalized } = await view.resolveState(String(stateId));
      return {
        data: epochCommittees(state, { epoch, index, slot }),
        meta: { executionOptimistic: EXECUTION_OPTIMISTIC, finalized },
      };
    },
  };
}
