/**
 * Fixed addresses of OpenGPU's system contracts.
 *
 * They live in one readable block, `0x4f475055` ("OGPU") followed by a one-byte index, far from
 * Ethereum's precompile range (0x01..0x11) and from any address a key or CREATE can produce in
 * practice. The protocol's own accounts (vesting, provider rewards) hold their genesis
 * allocations at these addresses; the contracts that move those funds are native precompiles.
 */
export const SYSTEM_CONTRACT_ADDRESSES = {
  /**
   * Validator deposits (EIP-6110 deposit events), used by the consensus layer: the Solidity
   * contract in `deposit/`, deployed at genesis, holding the genesis validators' stake.
   */
  deposit: "0x4f47505500000000000000000000000000000001",
  /** Provider registry and staking. */
  providerRegistry: "0x4f47505500000000000000000000000000000002",
  /** ONNX model registry. */
  modelRegistry: "0x4f47505500000000000000000000000000000003",
  /** Batch and streaming task market. */
  taskMarket: "0x4f47505500000000000000000000000000000004",
  /** Team and advisor vesting: holds the team allocation, releases it linearly. */
  vesting: "0x4f47505500000000000000000000000000000005",
  /** Provider rewards pool: holds the provider-rewards allocation, released over 10 years. */
  rewards: "0x4f47505500000000000000000000000000000006",
  /** On-chain governance (stake-weighted proposals, votes, timelock). */
  governance: "0x4f47505500000000000000000000000000000007",
} as const;

export type SystemContractName = keyof typeof SYSTEM_CONTRACT_ADDRESSES;

/** Runtime code placed at each native system contract's address at genesis (INVALID opcode). */
export const NATIVE_CONTRACT_MARKER_CODE = "0xfe";

/**
 * The system contracts implemented as native precompiles (precompiles/index.ts): their accounts
 * get the marker code and nonce 1 at genesis.
 */
export const NATIVE_CONTRACTS = [
  SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
  SYSTEM_CONTRACT_ADDRESSES.modelRegistry,
  SYSTEM_CONTRACT_ADDRESSES.taskMarket,
] as const;

/**
 * Storage slot 0 of the task market holds the provider-rewards release start (the genesis
 * timestamp), written at genesis: the validator bonus is paid only out of the released part of
 * the pool, as withdrawals are. (Every other system-contract slot is a keccak-derived one.)
 */
export const TASK_MARKET_RELEASE_START_SLOT = `0x${"00".repeat(32)}` as `0x${string}`;
