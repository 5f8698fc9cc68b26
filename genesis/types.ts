/**
 * Genesis formats.
 *
 * `GethGenesis` is the canonical, resolved form the node stores and runs from: the shape
 * `geth init` reads, so Ethereum test chains load unchanged. `OpenGpuGenesis` is our own
 * network definition, which names the oGPU allocation table and is compiled into a
 * `GethGenesis` by `buildGenesis`.
 */

export interface GethAllocAccount {
  balance?: string;
  nonce?: string | number;
  code?: string;
  storage?: Record<string, string>;
}

export interface BlobScheduleEntry {
  target: number;
  max: number;
  baseFeeUpdateFraction: number;
}

export interface GethChainConfig {
  chainId: number;
  homesteadBlock?: number;
  daoForkBlock?: number;
  daoForkSupport?: boolean;
  eip150Block?: number;
  eip155Block?: number;
  eip158Block?: number;
  byzantiumBlock?: number;
  constantinopleBlock?: number;
  petersburgBlock?: number;
  istanbulBlock?: number;
  muirGlacierBlock?: number;
  berlinBlock?: number;
  londonBlock?: number;
  arrowGlacierBlock?: number;
  grayGlacierBlock?: number;
  mergeNetsplitBlock?: number;
  terminalTotalDifficulty?: number | string;
  terminalTotalDifficultyPassed?: boolean;
  shanghaiTime?: number;
  cancunTime?: number;
  pragueTime?: number;
  osakaTime?: number;
  depositContractAddress?: string;
  blobSchedule?: Record<string, BlobScheduleEntry>;
  /**
   * OpenGPU extension, ignored by geth: where the genesis came from (network name), and the
   * genesis validators whose stake the deposit contract holds (the consensus layer builds the
   * genesis validator set from it).
   */
  opengpu?: {
    network: string;
    format: string;
    validators?: OpenGpuGenesisValidators;
    consensus?: OpenGpuConsensusParams;
  };
  [key: string]: unknown;
}

export interface GethGenesis {
  config: GethChainConfig;
  nonce: string;
  timestamp: string;
  extraData: string;
  gasLimit: string;
  difficulty: string;
  mixHash: string;
  coinbase: string;
  alloc: Record<string, GethAllocAccount>;
  baseFeePerGas?: string;
  excessBlobGas?: string;
  blobGasUsed?: string;
  number?: string;
  parentHash?: string;
  [key: string]: unknown;
}

export interface OpenGpuShareAllocation {
  /** Recipient of the share. `team` and `providerRewards` default to their system contracts. */
  address?: string;
  /** Whole oGPU, as a decimal string; must equal the token table's amount. */
  amount: string;
}

/** The shares genesis validator stake may be paid out of. */
export type ValidatorStakeSource = "community" | "reserve" | "providerRewards";

/**
 * Validators active from genesis. Their stake is held by the deposit contract as its balance,
 * paid out of the named share, so the supply stays 21,000,000 oGPU. The deposit contract's tree
 * starts empty: genesis validators are not on-chain deposits.
 *
 * Two kinds: real validators given by their signed deposit data (`deposits`, the entries
 * `opengpu keys deposit-data` writes), or, for dev and test networks, the public interop keys
 * 0..count-1 with `balance` each (anyone can sign for those: never for a network of value).
 */
export interface OpenGpuGenesisValidators {
  /** Number of validators (with `deposits`, the builder sets it to their number). */
  count: number;
  /** Interop validators: oGPU each as a decimal string, e.g. "32"; at least 1 oGPU, whole Gwei. */
  balance?: string;
  source: ValidatorStakeSource;
  /** Real genesis validators' signed deposit data. */
  deposits?: GenesisDepositData[];
  /**
   * Interop validators: execution addresses their withdrawals go to, one per validator (the
   * builder fills it with dev account i mod n, or leaves it out when there are no dev accounts:
   * then withdrawals of interop validators go to the zero address).
   */
  withdrawalAddresses?: string[];
}

/** One genesis validator's deposit, as in a deposit_data file (hex without 0x is accepted). */
export interface GenesisDepositData {
  /** 48-byte BLS public key. */
  pubkey: string;
  /** 32 bytes: 0x01/0x02 + 11 zero bytes + execution address, or 0x00 + hash of a BLS key. */
  withdrawal_credentials: string;
  /** Gwei. */
  amount: number;
  /** 96-byte BLS signature of the DepositMessage under the network's deposit domain. */
  signature: string;
}

/** Proof-of-stake parameters of a network (the consensus layer's chain configuration). */
export interface OpenGpuConsensusParams {
  /** Lodestar preset: "minimal" for dev and test networks, "mainnet" for production. */
  preset: "minimal" | "mainnet";
  /** Slot length in seconds. */
  secondsPerSlot: number;
  /** Distinguishes networks' fork versions (and so their signatures): 0 for dev networks. */
  networkByte: number;
  /**
   * Epochs a validator must be active before it may exit (SHARD_COMMITTEE_PERIOD); the preset's
   * value (256 epochs mainnet, 64 minimal) when absent. Dev networks shorten it.
   */
  shardCommitteePeriod?: number;
  /**
   * Epochs from exit until the stake can be withdrawn (MIN_VALIDATOR_WITHDRAWABILITY_DELAY); the
   * preset's value (256) when absent. Dev networks shorten it.
   */
  withdrawabilityDelay?: number;
}

export interface OpenGpuGenesis {
  format: "opengpu-genesis/1";
  /** Network name, e.g. "opengpu-devnet". */
  name: string;
  chainId: number;
  /** Unix seconds; 0 or omitted means "now" when the genesis is built. */
  timestamp?: number;
  /** Block gas limit at genesis (decimal or 0x-hex string, or number). */
  gasLimit: string | number;
  /** Base fee at genesis in wei (decimal or 0x-hex). */
  baseFeePerGas: string;
  extraData?: string;
  /** Fork activation. All forks through Prague are active at genesis; only future forks may be scheduled. */
  forks?: { osakaTime?: number };
  allocation: Record<
    "ecosystem" | "community" | "team" | "providerRewards" | "reserve",
    OpenGpuShareAllocation
  >;
  /** Prefunded development accounts, paid out of the community share. */
  devAccounts?: { mnemonic: string; count: number; balance: string };
  /** Extra genesis accounts (code, storage); any balance here is also paid out of the community share. */
  alloc?: Record<string, GethAllocAccount>;
  /** Validators active from genesis; their stake is locked in the deposit contract. */
  validators?: OpenGpuGenesisValidators;
  /** Proof-of-stake parameters; a network without them runs the execution layer only. */
  consensus?: OpenGpuConsensusParams;
}
