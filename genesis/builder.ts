/**
 * Compiles an OpenGPU network definition into the canonical geth-style genesis, and checks
 * geth-style files given directly.
 *
 * Invariant enforced for OpenGPU genesis files: the balances in `alloc` add up to exactly
 * 21,000,000 oGPU, split as the token table says. Geth-style files (Ethereum test chains) are
 * taken as they are: they are not OpenGPU networks.
 *
 * Every OpenGPU genesis deploys the Prague system contracts and the validator deposit contract
 * (runtime code, nonce 1). The deposit contract needs no storage: it keeps no constructor state
 * (zero-subtree hashes are derived when its root is read), so the account is exactly what
 * deploying it would leave. Genesis validators' stake is its balance, paid out of a named share.
 */
import {
  NATIVE_CONTRACT_MARKER_CODE,
  NATIVE_CONTRACTS,
  SYSTEM_CONTRACT_ADDRESSES,
  TASK_MARKET_RELEASE_START_SLOT,
} from "../precompiles/addresses.ts";
import { DEPOSIT_CONTRACT_CODE } from "../precompiles/deposit/index.ts";
import { deriveDevAccounts } from "./dev-accounts.ts";
import { GenesisError, GenesisErrorCode } from "./errors.ts";
import { PRAGUE_SYSTEM_CONTRACTS } from "./system-contracts.ts";
import {
  type AllocationShare,
  formatOgpu,
  MAX_SUPPLY_WEI,
  ONE_OGPU,
  parseOgpu,
  SHARES,
  TOKEN_TABLE,
} from "./token.ts";
import type {
  GenesisDepositData,
  GethAllocAccount,
  GethGenesis,
  OpenGpuConsensusParams,
  OpenGpuGenesis,
  OpenGpuGenesisValidators,
  ValidatorStakeSource,
} from "./types.ts";

export const OPENGPU_GENESIS_FORMAT = "opengpu-genesis/1";

/** Blob transactions are decodable but never included on OpenGPU networks: zero blob capacity. */
const NO_BLOBS = {
  cancun: { target: 0, max: 0, baseFeeUpdateFraction: 3338477 },
  prague: { target: 0, max: 0, baseFeeUpdateFraction: 5007716 },
};

const ZERO_HASH = `0x${"00".repeat(32)}`;
const ZERO_ADDRESS = `0x${"00".repeat(20)}`;
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const HEX_RE = /^0x[0-9a-fA-F]*$/;
const GWEI = 10n ** 9n;
const VALIDATOR_STAKE_SOURCES: readonly ValidatorStakeSource[] = ["community", "reserve", "providerRewards"];

function invalid(field: string, why: string): GenesisError {
  return new GenesisError(GenesisErrorCode.INVALID_FIELD, `genesis: ${field} ${why}`, { field });
}

function toQuantity(value: string | number | bigint, field: string): string {
  let n: bigint;
  try {
    n = BigInt(value);
  } catch {
    throw invalid(field, `must be a number, got ${JSON.stringify(value)}`);
  }
  if (n < 0n) throw invalid(field, "must not be negative");
  return `0x${n.toString(16)}`;
}

function checkAddress(value: unknown, field: string): string {
  if (typeof value !== "string" || !ADDRESS_RE.test(value)) {
    throw invalid(field, `must be a 20-byte 0x-address, got ${JSON.stringify(value)}`);
  }
  return value.toLowerCase();
}

function credit(alloc: Record<string, GethAllocAccount>, address: string, wei: bigint): void {
  const account = alloc[address] ?? {};
  const before = account.balance === undefined ? 0n : BigInt(account.balance);
  alloc[address] = { ...account, balance: `0x${(before + wei).toString(16)}` };
}

function checkConsensus(c: OpenGpuConsensusParams): OpenGpuConsensusParams {
  if (c.preset !== "minimal" && c.preset !== "mainnet")
    throw invalid("consensus.preset", 'must be "minimal" or "mainnet"');
  if (!Number.isInteger(c.secondsPerSlot) || c.secondsPerSlot < 1 || c.secondsPerSlot > 60) {
    throw invalid("consensus.secondsPerSlot", "must be an integer from 1 to 60");
  }
  if (!Number.isInteger(c.networkByte) || c.networkByte < 0 || c.networkByte > 255) {
    throw invalid("consensus.networkByte", "must be an integer from 0 to 255");
  }
  const out: OpenGpuConsensusParams = {
    preset: c.preset,
    secondsPerSlot: c.secondsPerSlot,
    networkByte: c.networkByte,
  };
  for (const key of ["shardCommitteePeriod", "withdrawabilityDelay"] as const) {
    const value = c[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < 1 || value > 65536)
      throw invalid(`consensus.${key}`, "must be an integer number of epochs from 1 to 65536");
    out[key] = value;
  }
  return out;
}

/** Sum of all balances in a genesis allocation, in wei. */
export function totalSupply(genesis: Pick<GethGenesis, "alloc">): bigint {
  let total = 0n;
  for (const account of Object.values(genesis.alloc)) {
    if (account.balance !== undefined) total += BigInt(account.balance);
  }
  return total;
}

/**
 * Checks the `validators` section; returns it normalized and the total stake in wei. Deposit
 * entries are checked for form here (lengths, amounts, duplicates); their BLS signatures are
 * checked by the consensus layer when it builds the beacon genesis (and by
 * `opengpu genesis add-deposits`).
 */
function checkValidators(
  spec: OpenGpuGenesisValidators,
  devAddresses: readonly string[],
): {
  validators: OpenGpuGenesisValidators;
  stake: bigint;
} {
  if (typeof spec !== "object" || spec === null) throw invalid("validators", "must be an object");
  const { source } = spec;
  if (!VALIDATOR_STAKE_SOURCES.includes(source)) {
    throw invalid("validators.source", `must be one of ${VALIDATOR_STAKE_SOURCES.join(", ")}`);
  }
  if (spec.deposits !== undefined) {
    if (!Array.isArray(spec.deposits) || spec.deposits.length === 0)
      throw invalid("validators.deposits", "must be a non-empty list of deposit data entries");
    const seen = new Set<string>();
    let stake = 0n;
    const deposits = spec.deposits.map((entry, i) => {
      const where = `validators.deposits[${i}]`;
      const d = checkDeposit(entry, where);
      if (seen.has(d.pubkey)) throw invalid(`${where}.pubkey`, "appears twice");
      seen.add(d.pubkey);
      stake += BigInt(d.amount) * GWEI;
      return d;
    });
    return { validators: { count: deposits.length, source, deposits }, stake };
  }
  const { count, balance } = spec;
  if (!Number.isSafeInteger(count) || count < 1)
    throw invalid("validators.count", "must be a positive integer");
  let each: bigint;
  try {
    each = parseOgpu(String(balance));
  } catch {
    throw invalid("validators.balance", `must be a decimal oGPU amount, got ${JSON.stringify(balance)}`);
  }
  if (each < ONE_OGPU) throw invalid("validators.balance", "must be at least 1 oGPU");
  if (each % GWEI !== 0n) throw invalid("validators.balance", "must be a whole number of Gwei");
  const withdrawalAddresses =
    devAddresses.length === 0
      ? undefined
      : Array.from({ length: count }, (_, i) => devAddresses[i % devAddresses.length]);
  return {
    validators: {
      count,
      balance: formatOgpu(each),
      source,
      ...(withdrawalAddresses !== undefined ? { withdrawalAddresses } : {}),
    },
    stake: BigInt(count) * each,
  };
}

function hexField(value: unknown, bytes: number, where: string): string {
  if (typeof value !== "string") throw invalid(where, `must be ${bytes} bytes of hex`);
  const hex = value.startsWith("0x") ? value.slice(2) : value;
  if (hex.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(hex))
    throw invalid(where, `must be ${bytes} bytes of hex`);
  return hex.toLowerCase();
}

function checkDeposit(entry: GenesisDepositData, where: string): GenesisDepositData {
  if (typeof entry !== "object" || entry === null) throw invalid(where, "must be a deposit data object");
  const pubkey = hexField(entry.pubkey, 48, `${where}.pubkey`);
  const credentials = hexField(entry.withdrawal_credentials, 32, `${where}.withdrawal_credentials`);
  if (!["00", "01", "02"].includes(credentials.slice(0, 2)))
    throw invalid(`${where}.withdrawal_credentials`, "must start with 0x00, 0x01 or 0x02");
  const signature = hexField(entry.signature, 96, `${where}.signature`);
  const amount = entry.amount;
  // 1 oGPU to 2,048 oGPU (compounding); the state transition caps 0x00/0x01 effective balance itself.
  if (!Number.isSafeInteger(amount) || amount < 1e9 || amount > 2048e9)
    throw invalid(`${where}.amount`, "must be a whole number of Gwei from 1 to 2048 oGPU");
  return { pubkey, withdrawal_credentials: credentials, amount, signature };
}

export interface BuildGenesisOptions {
  /** Unix seconds used when the definition's timestamp is 0 or absent. */
  now?: number;
}

/** Compiles an OpenGPU network definition into the canonical geth-style genesis. */
export function buildGenesis(spec: OpenGpuGenesis, opts: BuildGenesisOptions = {}): GethGenesis {
  if (spec.format !== OPENGPU_GENESIS_FORMAT) {
    throw invalid("format", `must be "${OPENGPU_GENESIS_FORMAT}"`);
  }
  if (typeof spec.name !== "string" || spec.name.length === 0) throw invalid("name", "must be a string");
  if (!Number.isSafeInteger(spec.chainId) || spec.chainId <= 0) {
    throw invalid("chainId", "must be a positive integer");
  }
  const extraData = spec.extraData ?? "0x";
  if (!HEX_RE.test(extraData) || extraData.length > 2 + 64) {
    throw invalid("extraData", "must be 0x-hex of at most 32 bytes");
  }
  if (spec.forks !== undefined) {
    const unknown = Object.keys(spec.forks).filter((k) => k !== "osakaTime");
    if (unknown.length > 0) {
      throw new GenesisError(
        GenesisErrorCode.UNSUPPORTED_FORKS,
        `genesis: forks may only schedule osakaTime (all earlier forks are active at genesis); got ${unknown.join(", ")}`,
      );
    }
  }
  const timestamp = spec.timestamp !== undefined && spec.timestamp > 0 ? spec.timestamp : (opts.now ?? 0);

  const alloc: Record<string, GethAllocAccount> = {};
  for (const contract of PRAGUE_SYSTEM_CONTRACTS) {
    alloc[contract.address] = { balance: "0x0", nonce: "0x1", code: contract.code };
  }
  alloc[SYSTEM_CONTRACT_ADDRESSES.deposit] = { balance: "0x0", nonce: "0x1", code: DEPOSIT_CONTRACT_CODE };
  // Native system contracts (precompiles/): the account exists with a marker code so that
  // callers' extcodesize checks pass and their storage is never pruned as an empty account.
  for (const address of NATIVE_CONTRACTS) {
    alloc[address] = { balance: "0x0", nonce: "0x1", code: NATIVE_CONTRACT_MARKER_CODE };
  }
  alloc[SYSTEM_CONTRACT_ADDRESSES.taskMarket] = {
    ...alloc[SYSTEM_CONTRACT_ADDRESSES.taskMarket],
    storage: { [TASK_MARKET_RELEASE_START_SLOT]: `0x${BigInt(timestamp).toString(16).padStart(64, "0")}` },
  };

  if (typeof spec.allocation !== "object" || spec.allocation === null) {
    throw invalid("allocation", "must name the five shares of the token table");
  }
  const defaults: Partial<Record<string, string>> = {
    team: SYSTEM_CONTRACT_ADDRESSES.vesting,
    providerRewards: SYSTEM_CONTRACT_ADDRESSES.rewards,
  };
  /** What is paid out of each share before its holder gets the rest, and for what. */
  const paidOut: Partial<Record<AllocationShare, { wei: bigint; what: Set<string> }>> = {};
  const payOut = (share: AllocationShare, wei: bigint, what: string): void => {
    const entry = paidOut[share] ?? { wei: 0n, what: new Set<string>() };
    entry.wei += wei;
    entry.what.add(what);
    paidOut[share] = entry;
  };

  // Extra accounts and dev accounts are paid out of the community share.
  for (const [address, account] of Object.entries(spec.alloc ?? {})) {
    const addr = checkAddress(address, `alloc key ${address}`);
    if (alloc[addr] !== undefined) throw invalid(`alloc key ${address}`, "is a system contract's address");
    const balance =
      account.balance === undefined ? 0n : BigInt(toQuantity(account.balance, `alloc.${address}.balance`));
    alloc[addr] = {
      ...account,
      balance: "0x0",
      ...(account.nonce !== undefined ? { nonce: toQuantity(account.nonce, `alloc.${address}.nonce`) } : {}),
    };
    credit(alloc, addr, balance);
    payOut("community", balance, "extra alloc balances");
  }
  const devAddresses: string[] = [];
  if (spec.devAccounts !== undefined) {
    const { mnemonic, count, balance } = spec.devAccounts;
    if (typeof mnemonic !== "string" || mnemonic.split(" ").length < 12) {
      throw invalid("devAccounts.mnemonic", "must be a BIP-39 mnemonic of at least 12 words");
    }
    if (!Number.isSafeInteger(count) || count < 0 || count > 1000) {
      throw invalid("devAccounts.count", "must be an integer in 0..1000");
    }
    const each = parseOgpu(balance);
    for (const account of deriveDevAccounts(mnemonic, count)) {
      devAddresses.push(account.address);
      credit(alloc, account.address, each);
      payOut("community", each, "dev accounts");
    }
  }

  // Genesis validators' stake is locked in the deposit contract, out of the named share.
  let validators: OpenGpuGenesisValidators | undefined;
  if (spec.validators !== undefined) {
    const checked = checkValidators(spec.validators, devAddresses);
    validators = checked.validators;
    credit(alloc, SYSTEM_CONTRACT_ADDRESSES.deposit, checked.stake);
    payOut(checked.validators.source, checked.stake, "genesis validator stake");
  }

  for (const share of SHARES) {
    const entry = spec.allocation[share];
    if (entry === undefined) throw invalid(`allocation.${share}`, "is missing");
    const amount = parseOgpu(entry.amount);
    const expected = TOKEN_TABLE[share].amount * ONE_OGPU;
    if (amount !== expected) {
      throw new GenesisError(
        GenesisErrorCode.SUPPLY_MISMATCH,
        `genesis: allocation.${share} must be ${TOKEN_TABLE[share].amount} oGPU (${TOKEN_TABLE[share].percent}% of 21,000,000), got ${entry.amount}`,
      );
    }
    const address = checkAddress(entry.address ?? defaults[share], `allocation.${share}.address`);
    if (address === SYSTEM_CONTRACT_ADDRESSES.deposit) {
      throw invalid(`allocation.${share}.address`, "must not be the deposit contract");
    }
    const out = paidOut[share];
    if (out !== undefined && out.wei > amount) {
      throw new GenesisError(
        GenesisErrorCode.SUPPLY_MISMATCH,
        `genesis: ${[...out.what].join(", ")} (${formatOgpu(out.wei)} oGPU) exceed the ${share} share of ${TOKEN_TABLE[share].amount} oGPU`,
      );
    }
    credit(alloc, address, amount - (out?.wei ?? 0n));
  }

  const genesis: GethGenesis = {
    config: {
      chainId: spec.chainId,
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
      mergeNetsplitBlock: 0,
      terminalTotalDifficulty: 0,
      terminalTotalDifficultyPassed: true,
      shanghaiTime: 0,
      cancunTime: 0,
      pragueTime: 0,
      ...(spec.forks?.osakaTime !== undefined ? { osakaTime: spec.forks.osakaTime } : {}),
      depositContractAddress: SYSTEM_CONTRACT_ADDRESSES.deposit,
      blobSchedule: NO_BLOBS,
      opengpu: {
        network: spec.name,
        format: OPENGPU_GENESIS_FORMAT,
        ...(validators !== undefined ? { validators } : {}),
        ...(spec.consensus !== undefined ? { consensus: checkConsensus(spec.consensus) } : {}),
      },
    },
    nonce: "0x0",
    timestamp: toQuantity(timestamp, "timestamp"),
    extraData,
    gasLimit: toQuantity(spec.gasLimit, "gasLimit"),
    difficulty: "0x0",
    mixHash: ZERO_HASH,
    coinbase: ZERO_ADDRESS,
    baseFeePerGas: toQuantity(spec.baseFeePerGas, "baseFeePerGas"),
    excessBlobGas: "0x0",
    blobGasUsed: "0x0",
    alloc,
  };
  const supply = totalSupply(genesis);
  if (supply !== MAX_SUPPLY_WEI) {
    throw new GenesisError(
      GenesisErrorCode.SUPPLY_MISMATCH,
      `genesis: balances add up to ${supply} wei, expected exactly 21,000,000 oGPU`,
    );
  }
  return genesis;
}

/** Checks a geth-style genesis and fills the optional header fields geth defaults. */
export function normalizeGethGenesis(raw: Record<string, unknown>): GethGenesis {
  const config = raw.config;
  if (typeof config !== "object" || config === null) throw invalid("config", "must be an object");
  const chainId = (config as { chainId?: unknown }).chainId;
  if (typeof chainId !== "number" || !Number.isSafeInteger(chainId) || chainId <= 0) {
    throw invalid("config.chainId", "must be a positive integer");
  }
  const alloc = raw.alloc;
  if (typeof alloc !== "object" || alloc === null) throw invalid("alloc", "must be an object");
  const normalizedAlloc: Record<string, GethAllocAccount> = {};
  for (const [key, value] of Object.entries(alloc as Record<string, unknown>)) {
    const address = checkAddress(key.startsWith("0x") ? key : `0x${key}`, `alloc key ${key}`);
    if (typeof value !== "object" || value === null) throw invalid(`alloc.${key}`, "must be an object");
    const account = value as GethAllocAccount;
    normalizedAlloc[address] = {
      balance: toQuantity(account.balance ?? "0", `alloc.${key}.balance`),
      ...(account.nonce !== undefined ? { nonce: toQuantity(account.nonce, `alloc.${key}.nonce`) } : {}),
      ...(account.code !== undefined
        ? { code: account.code.startsWith("0x") ? account.code : `0x${account.code}` }
        : {}),
      ...(account.storage !== undefined ? { storage: account.storage } : {}),
    };
  }
  const quantity = (field: string, fallback: string): string => {
    const value = raw[field];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "string" && typeof value !== "number") throw invalid(field, "must be a number");
    return toQuantity(value, field);
  };
  const hex = (field: string, fallback: string): string => {
    const value = raw[field];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "string" || !HEX_RE.test(value)) throw invalid(field, "must be 0x-hex");
    return value;
  };
  if (raw.gasLimit === undefined) throw invalid("gasLimit", "is missing");
  const genesis: GethGenesis = {
    config: config as GethGenesis["config"],
    nonce: quantity("nonce", "0x0"),
    timestamp: quantity("timestamp", "0x0"),
    extraData: hex("extraData", "0x"),
    gasLimit: quantity("gasLimit", "0x0"),
    difficulty: quantity("difficulty", "0x0"),
    mixHash: hex("mixHash", ZERO_HASH),
    coinbase: hex("coinbase", ZERO_ADDRESS),
    alloc: normalizedAlloc,
  };
  for (const field of ["baseFeePerGas", "excessBlobGas", "blobGasUsed"] as const) {
    if (raw[field] !== undefined && raw[field] !== null) genesis[field] = quantity(field, "0x0");
  }
  if (raw.number !== undefined && BigInt(quantity("number", "0x0")) !== 0n) {
    throw invalid("number", "must be 0: only genesis blocks at height 0 are supported");
  }
  return genesis;
}

/** Reads either format: OpenGPU network definitions are compiled, geth-style files normalized. */
export function resolveGenesis(raw: unknown, opts: BuildGenesisOptions = {}): GethGenesis {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new GenesisError(GenesisErrorCode.MALFORMED, "genesis: expected a JSON object");
  }
  const obj = raw as Record<string, unknown>;
  if (obj.format === OPENGPU_GENESIS_FORMAT) return buildGenesis(obj as unknown as OpenGpuGenesis, opts);
  if ("config" in obj && "alloc" in obj) return normalizeGethGenesis(obj);
  throw new GenesisError(
    GenesisErrorCode.MALFORMED,
    `genesis: neither an OpenGPU network definition (format "${OPENGPU_GENESIS_FORMAT}") nor a geth-style genesis (config + alloc)`,
  );
}
