/**
 * The validator deposit contract (EIP-6110 source of deposit requests): its runtime bytecode and
 * ABI as committed in `artifact.ts` (regenerated from `DepositContract.sol` by
 * `scripts/compile-deposit-contract.ts`), and the protocol constants its behaviour is defined by.
 *
 * The genesis builder places `DEPOSIT_CONTRACT_CODE` at `SYSTEM_CONTRACT_ADDRESSES.deposit` with
 * nonce 1 and empty storage; the contract needs no constructor state.
 */

export { DEPOSIT_CONTRACT_ABI, DEPOSIT_CONTRACT_CODE, DEPOSIT_CONTRACT_COMPILER } from "./artifact.ts";

/** keccak256("DepositEvent(bytes,bytes,bytes,bytes,bytes)"), the log topic EIP-6110 reads. */
export const DEPOSIT_EVENT_TOPIC = "0x649bbc62d0e31342afea4e5cd82d4049e7e1ee912fc0889aa790803be39038c5";

/** Smallest deposit the contract accepts: 1 oGPU, in wei. */
export const MIN_DEPOSIT_WEI = 10n ** 18n;

/** Depth of the deposit Merkle tree (the root mixes in the deposit count on top). */
export const DEPOSIT_TREE_DEPTH = 32;

/** ERC-165 interface id of the deposit contract interface (deposit, get_deposit_root, get_deposit_count). */
export const DEPOSIT_CONTRACT_INTERFACE_ID = "0x85640907";

/** Bytes of the DepositEvent log data: the five ABI-encoded byte strings (EIP-6110's layout). */
export const DEPOSIT_LOG_SIZE = 576;
