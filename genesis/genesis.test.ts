import { describe, expect, it } from "vitest";
import { SYSTEM_CONTRACT_ADDRESSES } from "../precompiles/addresses.ts";
import {
  buildGenesis,
  deriveDevAccounts,
  devnetDefinition,
  GenesisError,
  MAX_SUPPLY_WEI,
  ONE_OGPU,
  PRAGUE_SYSTEM_CONTRACTS,
  resolveGenesis,
  TEST_MNEMONIC,
  totalSupply,
} from "./index.ts";

describe("dev accounts", () => {
  it("derive the accounts Hardhat and Anvil print for the test mnemonic", () => {
    const [first, second] = deriveDevAccounts(TEST_MNEMONIC, 2);
    expect(first.address).toBe("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    expect(first.privateKey).toBe("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
    expect(second.address).toBe("0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
  });
});

describe("OpenGPU genesis", () => {
  const genesis = buildGenesis(devnetDefinition(), { now: 1_700_000_000 });

  it("allocates exactly 21,000,000 oGPU", () => {
    expect(totalSupply(genesis)).toBe(MAX_SUPPLY_WEI);
  });

  it("pays dev accounts out of the community share and holds locked shares at system contracts", () => {
    const dev = deriveDevAccounts(TEST_MNEMONIC, 10);
    for (const account of dev)
      expect(BigInt(genesis.alloc[account.address].balance ?? 0)).toBe(10_000n * ONE_OGPU);
    const community = "0x71be63f3384f5fb98995898a86b02fb2426c5788";
    expect(BigInt(genesis.alloc[community].balance ?? 0)).toBe((3_150_000n - 100_000n) * ONE_OGPU);
    expect(BigInt(genesis.alloc[SYSTEM_CONTRACT_ADDRESSES.vesting].balance ?? 0)).toBe(3_150_000n * ONE_OGPU);
    expect(BigInt(genesis.alloc[SYSTEM_CONTRACT_ADDRESSES.rewards].balance ?? 0)).toBe(
      10_500_000n * ONE_OGPU,
    );
  });

  it("activates every fork through Prague at genesis and deploys the system contracts", () => {
    expect(genesis.config.pragueTime).toBe(0);
    expect(genesis.config.depositContractAddress).toBe(SYSTEM_CONTRACT_ADDRESSES.deposit);
    for (const contract of PRAGUE_SYSTEM_CONTRACTS) {
      expect(genesis.alloc[contract.address].code, contract.name).toBe(contract.code);
    }
  });

  it("uses the build time when the definition's timestamp is 0", () => {
    expect(BigInt(genesis.timestamp)).toBe(1_700_000_000n);
  });

  it("rejects a share that differs from the token table", () => {
    const definition = devnetDefinition();
    const bad = {
      ...definition,
      allocation: {
        ...definition.allocation,
        reserve: { ...definition.allocation.reserve, amount: "2100001" },
      },
    };
    expect(() => buildGenesis(bad)).toThrow(/reserve must be 2100000 oGPU/);
  });

  it("rejects dev accounts that exceed the community share", () => {
    const definition = devnetDefinition({
      devAccounts: { mnemonic: TEST_MNEMONIC, count: 400, balance: "10000" },
    });
    expect(() => buildGenesis(definition)).toThrow(GenesisError);
  });
});

describe("geth-style genesis", () => {
  it("is normalized with geth's defaults", () => {
    const genesis = resolveGenesis({
      config: { chainId: 12345, londonBlock: 0, berlinBlock: 0 },
      gasLimit: "0x1c9c380",
      alloc: { "71562b71999873db5b286df957af199ec94617f7": { balance: "1000" } },
    });
    expect(genesis.alloc["0x71562b71999873db5b286df957af199ec94617f7"].balance).toBe("0x3e8");
    expect(genesis.difficulty).toBe("0x0");
    expect(genesis.nonce).toBe("0x0");
  });

  it("rejects files that are neither format", () => {
    expect(() => resolveGenesis({ hello: 1 })).toThrow(/neither an OpenGPU network definition/);
    expect(() => resolveGenesis([1, 2])).toThrow(GenesisError);
  });
});
