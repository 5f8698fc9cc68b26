/**
 * Geth-style genesis files of public Ethereum networks, for checking that our genesis loader,
 * state trie and header code reproduce their genesis block hashes exactly.
 *
 * The allocations come from `@ethereumjs/genesis` (a dev dependency); the header fields and fork
 * schedules are the ones geth's `core/genesis.go` and `params/config.go` define for each network.
 */
import type { AccountState, GenesisState } from "@ethereumjs/common";
import { getGenesis } from "@ethereumjs/genesis";
import type { GethAllocAccount, GethChainConfig } from "../../genesis/types.ts";

export interface EthNetwork {
  name: string;
  /** Geth-style genesis.json content (raw, as a file would hold it). */
  genesis: {
    config: GethChainConfig;
    nonce: string;
    timestamp: string;
    extraData: string;
    gasLimit: string;
    difficulty: string;
    mixHash: string;
    coinbase: string;
    alloc: Record<string, GethAllocAccount>;
  };
  hash: string;
  stateRoot: string;
}

const ZERO_HASH = `0x${"00".repeat(32)}`;
const ZERO_ADDRESS = `0x${"00".repeat(20)}`;

/** Converts the package's compact genesis state into a geth `alloc` map. */
export function gethAlloc(state: GenesisState): Record<string, GethAllocAccount> {
  const alloc: Record<string, GethAllocAccount> = {};
  for (const [address, value] of Object.entries(state)) {
    if (typeof value === "string") {
      alloc[address] = { balance: value };
      continue;
    }
    const [balance, code, storage, nonce] = value as AccountState;
    alloc[address] = {
      balance,
      ...(code !== undefined ? { code } : {}),
      ...(storage !== undefined ? { storage: Object.fromEntries(storage) } : {}),
      ...(nonce !== undefined ? { nonce } : {}),
    };
  }
  return alloc;
}

function allocOf(chainId: number): Record<string, GethAllocAccount> {
  const state = getGenesis(chainId);
  if (state === undefined) throw new Error(`@ethereumjs/genesis has no state for chain ${chainId}`);
  return gethAlloc(state);
}

/** Every fork from Homestead through London at block 0 (post-2021 test networks). */
const ALL_BLOCK_FORKS_AT_ZERO = {
  homesteadBlock: 0,
  eip150Block: 0,
  eip155Block: 0,
  eip158Block: 0,
  byzantiumBlock: 0,
  constantinopleBlock: 0,
  petersburgBlock: 0,
  istanbulBlock: 0,
  berlinBlock: 0,
  londonBlock: 0,
};

export function mainnet(): EthNetwork {
  return {
    name: "mainnet",
    genesis: {
      config: {
        chainId: 1,
        homesteadBlock: 1_150_000,
        daoForkBlock: 1_920_000,
        daoForkSupport: true,
        eip150Block: 2_463_000,
        eip155Block: 2_675_000,
        eip158Block: 2_675_000,
        byzantiumBlock: 4_370_000,
        constantinopleBlock: 7_280_000,
        petersburgBlock: 7_280_000,
        istanbulBlock: 9_069_000,
        muirGlacierBlock: 9_200_000,
        berlinBlock: 12_244_000,
        londonBlock: 12_965_000,
        arrowGlacierBlock: 13_773_000,
        grayGlacierBlock: 15_050_000,
        terminalTotalDifficulty: "58750000000000000000000",
        shanghaiTime: 1_681_338_455,
        cancunTime: 1_710_338_135,
        pragueTime: 1_746_612_311,
        depositContractAddress: "0x00000000219ab540356cbb839cbe05303d7705fa",
      },
      nonce: "0x0000000000000042",
      timestamp: "0x0",
      extraData: "0x11bbe8db4e347b4e8c937c1c8370e4b5ed33adb3db69cbdb7a38e1e50b1b82fa",
      gasLimit: "0x1388",
      difficulty: "0x400000000",
      mixHash: ZERO_HASH,
      coinbase: ZERO_ADDRESS,
      alloc: allocOf(1),
    },
    hash: "0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
    stateRoot: "0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544",
  };
}

export function sepolia(): EthNetwork {
  return {
    name: "sepolia",
    genesis: {
      config: {
        chainId: 11_155_111,
        ...ALL_BLOCK_FORKS_AT_ZERO,
        muirGlacierBlock: 0,
        mergeNetsplitBlock: 1_735_371,
        terminalTotalDifficulty: "17000000000000000",
        shanghaiTime: 1_677_557_088,
        cancunTime: 1_706_655_072,
        pragueTime: 1_741_159_776,
        depositContractAddress: "0x7f02c3e3c98b133055b8b348b2ac625669ed295d",
      },
      nonce: "0x0",
      timestamp: "0x6159af19",
      // "Sepolia, Athens, Attica, Greece!"
      extraData: "0x5365706f6c69612c20417468656e732c204174746963612c2047726565636521",
      gasLimit: "0x1c9c380",
      difficulty: "0x20000",
      mixHash: ZERO_HASH,
      coinbase: ZERO_ADDRESS,
      alloc: allocOf(11_155_111),
    },
    hash: "0x25a5cc106eea7138acab33231d7160d69cb777ee0c2c553fcddf5138993e6dd9",
    stateRoot: "0x5eb6e371a698b8d68f665192350ffcecbbbf322916f4b51bd79bb6887da3f494",
  };
}

/** Merged at genesis; its allocation holds the deposit contract's code and storage. */
export function holesky(): EthNetwork {
  return {
    name: "holesky",
    genesis: {
      config: {
        chainId: 17_000,
        ...ALL_BLOCK_FORKS_AT_ZERO,
        mergeNetsplitBlock: 0,
        terminalTotalDifficulty: 0,
        terminalTotalDifficultyPassed: true,
        shanghaiTime: 1_696_000_704,
        cancunTime: 1_707_305_664,
        pragueTime: 1_740_434_112,
        depositContractAddress: "0x4242424242424242424242424242424242424242",
      },
      nonce: "0x1234",
      timestamp: "0x65156994",
      extraData: "0x",
      gasLimit: "0x17d7840",
      difficulty: "0x1",
      mixHash: ZERO_HASH,
      coinbase: ZERO_ADDRESS,
      alloc: allocOf(17_000),
    },
    hash: "0xb5f7f912443c940f21fd611f12828d75b534364ed9e95ca4e307729a4661bde4",
    stateRoot: "0x69d8c9d72f6fa4ad42d4702b433707212f90db395eb54dc20bc85de253788783",
  };
}

/** Shanghai and Cancun at genesis: the header carries withdrawals root and blob fields. */
export function hoodi(): EthNetwork {
  return {
    name: "hoodi",
    genesis: {
      config: {
        chainId: 560_048,
        ...ALL_BLOCK_FORKS_AT_ZERO,
        mergeNetsplitBlock: 0,
        terminalTotalDifficulty: 0,
        terminalTotalDifficultyPassed: true,
        shanghaiTime: 0,
        cancunTime: 0,
        pragueTime: 1_742_999_832,
        depositContractAddress: "0x00000000219ab540356cbb839cbe05303d7705fa",
      },
      nonce: "0x1234",
      timestamp: "0x67d80ec0",
      extraData: "0x",
      gasLimit: "0x2255100",
      difficulty: "0x1",
      mixHash: ZERO_HASH,
      coinbase: ZERO_ADDRESS,
      alloc: allocOf(560_048),
    },
    hash: "0xbbe312868b376a3001692a646dd2d7d1e4406380dfd86b98aa8a34d1557c971b",
    stateRoot: "0xda87d7f5f91c51508791bbcbd4aa5baf04917830b86985eeb9ad3d5bfb657576",
  };
}
