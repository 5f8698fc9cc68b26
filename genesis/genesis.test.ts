import { describe, expect, it } from "vitest";
import { SYSTEM_CONTRACT_ADDRESSES } from "../precompiles/addresses.ts";
import { DEPOSIT_CONTRACT_CODE } from "../precompiles/deposit/index.ts";
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
import type { GenesisDepositData, OpenGpuGenesisValidators } from "./types.ts";

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

  it("pays dev accounts and validator stake out of the community share and holds locked shares at system contracts", () => {
    const dev = deriveDevAccounts(TEST_MNEMONIC, 10);
    for (const account of dev)
      expect(BigInt(genesis.alloc[account.address].balance ?? 0)).toBe(10_000n * ONE_OGPU);
    const community = "0x71be63f3384f5fb98995898a86b02fb2426c5788";
    // 10 dev accounts × 10,000 oGPU and 4 genesis validators × 32 oGPU.
    expect(BigInt(genesis.alloc[community].balance ?? 0)).toBe((3_150_000n - 100_000n - 128n) * ONE_OGPU);
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

  it("deploys the deposit contract holding the genesis validators' stake, with no storage", () => {
    const deposit = genesis.alloc[SYSTEM_CONTRACT_ADDRESSES.deposit];
    expect(deposit.code).toBe(DEPOSIT_CONTRACT_CODE);
    expect(deposit.nonce).toBe("0x1");
    expect(deposit.storage).toBeUndefined();
    expect(BigInt(deposit.balance ?? 0)).toBe(4n * 32n * ONE_OGPU);
    // Interop validators withdraw to the dev accounts (i mod n).
    const devAddresses = deriveDevAccounts(TEST_MNEMONIC, 4).map((a) => a.address);
    expect(genesis.config.opengpu?.validators).toEqual({
      count: 4,
      balance: "32",
      source: "community",
      withdrawalAddresses: devAddresses,
    });
  });

  it("deploys the deposit contract with a zero balance when there are no genesis validators", () => {
    const built = buildGenesis(devnetDefinition({ validators: undefined }), { now: 1 });
    expect(built.alloc[SYSTEM_CONTRACT_ADDRESSES.deposit]).toEqual({
      balance: "0x0",
      nonce: "0x1",
      code: DEPOSIT_CONTRACT_CODE,
    });
    expect(built.config.opengpu?.validators).toBeUndefined();
    expect(totalSupply(built)).toBe(MAX_SUPPLY_WEI);
    expect(BigInt(built.alloc["0x71be63f3384f5fb98995898a86b02fb2426c5788"].balance ?? 0)).toBe(
      (3_150_000n - 100_000n) * ONE_OGPU,
    );
  });

  it.each([
    ["reserve", "0xfabb0ac9d68b0b445fb7357272ff202c5651694a", 2_100_000n],
    ["providerRewards", SYSTEM_CONTRACT_ADDRESSES.rewards, 10_500_000n],
  ] as const)("pays validator stake out of the %s share when named", (source, holder, share) => {
    const built = buildGenesis(devnetDefinition({ validators: { count: 64, balance: "32.5", source } }), {
      now: 1,
    });
    const stake = 64n * 32_500_000_000n * 10n ** 9n;
    expect(BigInt(built.alloc[SYSTEM_CONTRACT_ADDRESSES.deposit].balance ?? 0)).toBe(stake);
    expect(BigInt(built.alloc[holder].balance ?? 0)).toBe(share * ONE_OGPU - stake);
    expect(BigInt(built.alloc["0x71be63f3384f5fb98995898a86b02fb2426c5788"].balance ?? 0)).toBe(
      (3_150_000n - 100_000n) * ONE_OGPU,
    );
    expect(totalSupply(built)).toBe(MAX_SUPPLY_WEI);
    const devAddresses = deriveDevAccounts(TEST_MNEMONIC, 10).map((a) => a.address);
    expect(built.config.opengpu?.validators).toEqual({
      count: 64,
      balance: "32.5",
      source,
      withdrawalAddresses: Array.from({ length: 64 }, (_, i) => devAddresses[i % 10]),
    });
  });

  it.each([
    [{ count: 0, balance: "32", source: "community" }, /validators.count must be a positive integer/],
    [{ count: 1.5, balance: "32", source: "community" }, /validators.count/],
    [{ count: 4, balance: "0.5", source: "community" }, /validators.balance must be at least 1 oGPU/],
    [{ count: 4, balance: "32.0000000001", source: "community" }, /whole number of Gwei/],
    [{ count: 4, balance: "lots", source: "community" }, /validators.balance must be a decimal oGPU amount/],
    [{ count: 4, balance: "32", source: "team" }, /validators.source must be one of/],
    [
      { count: 70_000, balance: "32", source: "reserve" },
      /genesis validator stake .* exceed the reserve share/,
    ],
    [
      { count: 100_000, balance: "31", source: "community" },
      /dev accounts, genesis validator stake \(3200000 oGPU\) exceed the community share/,
    ],
  ])("rejects the validators section %j", (validators, message) => {
    const definition = devnetDefinition({ validators: validators as OpenGpuGenesisValidators });
    expect(() => buildGenesis(definition)).toThrow(GenesisError);
    expect(() => buildGenesis(definition)).toThrow(message);
  });

  it("refuses extra alloc entries or share holders at the deposit contract's address", () => {
    expect(() =>
      buildGenesis(devnetDefinition({ alloc: { [SYSTEM_CONTRACT_ADDRESSES.deposit]: { balance: "1" } } })),
    ).toThrow(/is a system contract's address/);
    const definition = devnetDefinition();
    expect(() =>
      buildGenesis({
        ...definition,
        allocation: {
          ...definition.allocation,
          reserve: { address: SYSTEM_CONTRACT_ADDRESSES.deposit, amount: "2100000" },
        },
      }),
    ).toThrow(/must not be the deposit contract/);
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

describe("genesis validators from deposit data", () => {
  const pubkey = (n: number) => n.toString(16).padStart(2, "0").repeat(48);
  const entry = (n: number, amount = 32e9) => ({
    pubkey: pubkey(n),
    withdrawal_credentials: `01${"00".repeat(11)}${"ab".repeat(20)}`,
    amount,
    signature: "cd".repeat(96),
    // Extra deposit_data fields are dropped.
    deposit_data_root: "ef".repeat(32),
  });

  it("stakes each entry's amount and keeps the entries, normalized", () => {
    const deposits = [entry(1), { ...entry(2, 64e9), pubkey: `0x${pubkey(2).toUpperCase()}` }];
    const built = buildGenesis(devnetDefinition({ validators: { count: 0, source: "reserve", deposits } }), {
      now: 1,
    });
    expect(BigInt(built.alloc[SYSTEM_CONTRACT_ADDRESSES.deposit].balance ?? 0)).toBe(96n * ONE_OGPU);
    expect(totalSupply(built)).toBe(MAX_SUPPLY_WEI);
    const validators = built.config.opengpu?.validators;
    expect(validators?.count).toBe(2);
    expect(validators?.balance).toBeUndefined();
    expect(validators?.withdrawalAddresses).toBeUndefined();
    expect(validators?.deposits).toEqual([
      {
        pubkey: pubkey(1),
        withdrawal_credentials: entry(1).withdrawal_credentials,
        amount: 32e9,
        signature: "cd".repeat(96),
      },
      {
        pubkey: pubkey(2),
        withdrawal_credentials: entry(1).withdrawal_credentials,
        amount: 64e9,
        signature: "cd".repeat(96),
      },
    ]);
  });

  it.each([
    [[], /validators.deposits must be a non-empty list/],
    [[{ ...entry(1), pubkey: "ab" }], /validators.deposits\[0\].pubkey must be 48 bytes of hex/],
    [[{ ...entry(1), signature: "zz".repeat(96) }], /deposits\[0\].signature must be 96 bytes of hex/],
    [[{ ...entry(1), withdrawal_credentials: `03${"00".repeat(31)}` }], /must start with 0x00, 0x01 or 0x02/],
    [[entry(1, 0.5e9)], /deposits\[0\].amount must be a whole number of Gwei from 1 to 2048 oGPU/],
    [[entry(1), entry(1)], /deposits\[1\].pubkey appears twice/],
  ])("rejects deposits %#", (deposits, message) => {
    const definition = devnetDefinition({
      validators: { count: 0, source: "community", deposits: deposits as GenesisDepositData[] },
    });
    expect(() => buildGenesis(definition)).toThrow(message);
  });
});

describe("consensus parameters", () => {
  it("keeps the dev network's short exit periods and checks their range", () => {
    const genesis = buildGenesis(devnetDefinition(), { now: 1_700_000_000 });
    expect(genesis.config.opengpu?.consensus).toEqual({
      preset: "minimal",
      secondsPerSlot: 2,
      networkByte: 0,
      shardCommitteePeriod: 4,
      withdrawabilityDelay: 4,
    });
    const definition = devnetDefinition();
    if (definition.consensus === undefined) throw new Error("devnet has consensus parameters");
    definition.consensus.withdrawabilityDelay = 0;
    expect(() => buildGenesis(definition)).toThrow(/consensus.withdrawabilityDelay/);
    definition.consensus.withdrawabilityDelay = undefined;
    definition.consensus.secondsPerSlot = 0.5;
    expect(() => buildGenesis(definition)).toThrow(/consensus.secondsPerSlot/);
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
