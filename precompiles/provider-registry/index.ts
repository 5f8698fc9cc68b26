/**
 * ProviderRegistry (IProviderRegistry.sol), the native system contract at
 * `SYSTEM_CONTRACT_ADDRESSES.providerRegistry`: provider registration with a stake held at this
 * address, a BLS key proven by a proof of possession, service description, unbonding with a
 * delay, and (for the task market) stake-weighted eligibility and slashing.
 */
import { PublicKey, Signature, verify } from "@chainsafe/blst";
import {
  type Address,
  bigIntToBytes,
  concatBytes,
  createAddressFromString,
  equalsBytes,
  setLengthLeft,
} from "@ethereumjs/util";
import { type ContractFunctionReturnType, type Hex, hexToBytes } from "viem";
import { BEACON_ROOTS } from "../../genesis/system-contracts.ts";
import { keccak256 } from "../../node/execution/crypto.ts";
import { SYSTEM_CONTRACT_ADDRESSES } from "../addresses.ts";
import { require } from "../framework/errors.ts";
import { SYSTEM_GAS } from "../framework/gas.ts";
import { Fields, loadAbi, storeAbi } from "../framework/records.ts";
import { slotOf, word } from "../framework/storage.ts";
import { type SystemCall, systemContract } from "../framework/system-call.ts";
import { COMPUTE_PARAMS } from "../params.ts";
import { PROVIDER_REGISTRY_ABI } from "./abi.ts";
import {
  BRANCH_LENGTH,
  branchRoot,
  FAR_FUTURE_EPOCH,
  validatorGindex,
  validatorRoot,
} from "./beacon-proof.ts";

export { PROVIDER_REGISTRY_ABI };
export const PROVIDER_REGISTRY = createAddressFromString(SYSTEM_CONTRACT_ADDRESSES.providerRegistry);

export type ProviderView = ContractFunctionReturnType<typeof PROVIDER_REGISTRY_ABI, "view", "getProvider">;
export type Gpu = ProviderView["gpu"];

export const ProviderStatus = { None: 0, Active: 1, Jailed: 2, Slashed: 3, Inactive: 4 } as const;
export type ProviderStatus = (typeof ProviderStatus)[keyof typeof ProviderStatus];

const MAX_MODELS = 64;
const MAX_TEXT = 128;
const BLS_PUBKEY_LENGTH = 48;
const BLS_SIGNATURE_LENGTH = 96;
const POP_PREFIX = new TextEncoder().encode("OpenGPU provider PoP");

const fields = new Fields("provider", [
  "registeredAt",
  "stake",
  "unbonding",
  "withdrawableAt",
  "jailedUntil",
  "slashed",
  "validatorIndex",
  "validatorProvenAt",
] as const);
type Field = Parameters<typeof fields.slot>[1];
const info = (a: Address) => slotOf("provider.info", a.bytes);
const byKey = (pubkey: Uint8Array) => slotOf("provider.byKey", keccak256(pubkey));
const COUNT = slotOf("provider.count");
const at = (i: bigint) => slotOf("provider.at", i);

const INFO_PARAM = {
  type: "tuple",
  components: [
    { name: "blsPubkey", type: "bytes" },
    {
      name: "gpu",
      type: "tuple",
      components: [
        { name: "device", type: "string" },
        { name: "memoryMiB", type: "uint64" },
        { name: "executionProvider", type: "string" },
      ],
    },
    { name: "models", type: "bytes32[]" },
    { name: "price", type: "uint256" },
    { name: "peerId", type: "string" },
  ],
} as const;
interface Info {
  blsPubkey: Hex;
  gpu: Gpu;
  models: readonly Hex[];
  price: bigint;
  peerId: string;
}

/** The message a provider's BLS key signs to prove possession. */
export function popMessage(
  chainId: bigint,
  provider: Address | `0x${string}`,
  pubkey: Uint8Array,
): Uint8Array {
  const account = typeof provider === "string" ? hexToBytes(provider) : provider.bytes;
  return concatBytes(POP_PREFIX, setLengthLeft(bigIntToBytes(chainId), 32), account, pubkey);
}

const get = (call: SystemCall, a: Address, f: Field) => call.load(PROVIDER_REGISTRY, fields.slot(a.bytes, f));
const put = (call: SystemCall, a: Address, f: Field, v: bigint) =>
  call.store(PROVIDER_REGISTRY, fields.slot(a.bytes, f), v);

export async function isRegistered(call: SystemCall, a: Address): Promise<boolean> {
  return (await get(call, a, "registeredAt")) !== 0n;
}

/** A provider's status now (derived from stake, jail and history). */
export async function statusOf(call: SystemCall, a: Address): Promise<ProviderStatus> {
  if (!(await isRegistered(call, a))) return ProviderStatus.None;
  if ((await get(call, a, "jailedUntil")) > call.block.timestamp) return ProviderStatus.Jailed;
  if ((await get(call, a, "stake")) >= COMPUTE_PARAMS.minProviderStake) return ProviderStatus.Active;
  return (await get(call, a, "slashed")) > 0n ? ProviderStatus.Slashed : ProviderStatus.Inactive;
}

export async function stakeOf(call: SystemCall, a: Address): Promise<bigint> {
  return get(call, a, "stake");
}

export async function blsKeyOf(call: SystemCall, a: Address): Promise<Uint8Array> {
  const stored = (await loadAbi(call, PROVIDER_REGISTRY, info(a), INFO_PARAM)) as Info | undefined;
  require(stored !== undefined, `${a.toString()} is not a registered provider`);
  return hexToBytes(stored.blsPubkey);
}

/** Every active provider with its bonded stake, in registration order. */
export async function activeProviders(call: SystemCall): Promise<{ address: Address; stake: bigint }[]> {
  const count = await call.load(PROVIDER_REGISTRY, COUNT);
  const out: { address: Address; stake: bigint }[] = [];
  for (let i = 0n; i < count; i++) {
    const address = createAddressFromString(
      `0x${(await call.load(PROVIDER_REGISTRY, at(i))).toString(16).padStart(40, "0")}`,
    );
    if ((await statusOf(call, address)) === ProviderStatus.Active)
      out.push({ address, stake: await stakeOf(call, address) });
  }
  return out;
}

/**
 * Slashes `bps` basis points of `provider`'s stake (bonded first, then unbonding), jails it when
 * `jail`, and returns the amount taken. The wei stay at this contract's address: the caller
 * pays them out or burns them.
 */
export async function slash(
  call: SystemCall,
  provider: Address,
  bps: number,
  taskId: bigint,
  reason: string,
  jail: boolean,
): Promise<bigint> {
  const stake = await get(call, provider, "stake");
  const unbonding = await get(call, provider, "unbonding");
  const amount = ((stake + unbonding) * BigInt(bps)) / 10_000n;
  const fromStake = amount < stake ? amount : stake;
  await put(call, provider, "stake", stake - fromStake);
  if (amount > fromStake) await put(call, provider, "unbonding", unbonding - (amount - fromStake));
  await put(call, provider, "slashed", (await get(call, provider, "slashed")) + amount);
  const account = provider.toString() as Hex;
  call.emit(PROVIDER_REGISTRY, PROVIDER_REGISTRY_ABI, "ProviderSlashed", {
    provider: account,
    taskId,
    amount,
    reason,
  });
  if (jail) {
    const until = call.block.timestamp + COMPUTE_PARAMS.jailPeriod;
    await put(call, provider, "jailedUntil", until);
    call.emit(PROVIDER_REGISTRY, PROVIDER_REGISTRY_ABI, "ProviderJailed", { provider: account, until });
  }
  return amount;
}

const BEACON_ROOTS_ADDRESS = createAddressFromString(BEACON_ROOTS.address);
/** EIP-4788's ring buffer length. */
const BEACON_ROOTS_LENGTH = 8191n;

/** Whether `provider` holds a validator proof younger than the bonus's time to live. */
export async function isProvenValidator(call: SystemCall, provider: Address): Promise<boolean> {
  const at = await get(call, provider, "validatorProvenAt");
  return at !== 0n && call.block.timestamp - at <= COMPUTE_PARAMS.validatorProofTtl;
}

function checkService(models: readonly Hex[], peerId: string): void {
  require(models.length <= MAX_MODELS, `at most ${MAX_MODELS} models`);
  require(peerId.length <= MAX_TEXT, `peerId longer than ${MAX_TEXT} bytes`);
}

export const providerRegistryPrecompile = systemContract(
  SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
  PROVIDER_REGISTRY_ABI,
  {
    async register(call, [blsPubkey, popSignature, gpu, models, price, peerId]) {
      const me = call.caller;
      require(!(await isRegistered(call, me)), "already registered");
      require(call.value >=
        COMPUTE_PARAMS.minProviderStake, `stake below the minimum of ${COMPUTE_PARAMS.minProviderStake} wei`);
      const pubkey = hexToBytes(blsPubkey);
      const signature = hexToBytes(popSignature);
      require(pubkey.length === BLS_PUBKEY_LENGTH, "BLS public key must be 48 bytes");
      require(signature.length ===
        BLS_SIGNATURE_LENGTH, "proof of possession must be a 96-byte BLS signature");
      require(gpu.device.length <= MAX_TEXT &&
        gpu.executionProvider.length <= MAX_TEXT, "GPU description too long");
      checkService(models, peerId);
      call.charge(SYSTEM_GAS.blsVerify);
      let valid = false;
      try {
        const pk = PublicKey.fromBytes(pubkey, true);
        const sig = Signature.fromBytes(signature, true);
        valid = verify(popMessage(call.chainId, me, pubkey), pk, sig);
      } catch {
        valid = false;
      }
      require(valid, "invalid BLS public key or proof of possession");
      require((await call.load(PROVIDER_REGISTRY, byKey(pubkey))) ===
        0n, "BLS public key already registered");
      await call.store(PROVIDER_REGISTRY, byKey(pubkey), BigInt(me.toString()));
      await put(call, me, "registeredAt", call.block.timestamp === 0n ? 1n : call.block.timestamp);
      await put(call, me, "stake", call.value);
      const record: Info = { blsPubkey, gpu, models, price, peerId };
      await storeAbi(call, PROVIDER_REGISTRY, info(me), INFO_PARAM, record as never);
      const count = await call.load(PROVIDER_REGISTRY, COUNT);
      await call.store(PROVIDER_REGISTRY, at(count), BigInt(me.toString()));
      await call.store(PROVIDER_REGISTRY, COUNT, count + 1n);
      call.emit(PROVIDER_REGISTRY, PROVIDER_REGISTRY_ABI, "ProviderRegistered", {
        provider: me.toString() as Hex,
        blsPubkey,
        stake: call.value,
        peerId,
      });
    },
    async addStake(call) {
      const me = call.caller;
      require(await isRegistered(call, me), "not a registered provider");
      require(call.value > 0n, "no stake sent");
      const stake = (await get(call, me, "stake")) + call.value;
      await put(call, me, "stake", stake);
      call.emit(PROVIDER_REGISTRY, PROVIDER_REGISTRY_ABI, "StakeAdded", {
        provider: me.toString() as Hex,
        amount: call.value,
        stake,
      });
    },
    async updateService(call, [models, price, peerId]) {
      const me = call.caller;
      const stored = (await loadAbi(call, PROVIDER_REGISTRY, info(me), INFO_PARAM)) as Info | undefined;
      require(stored !== undefined, "not a registered provider");
      checkService(models, peerId);
      await storeAbi(call, PROVIDER_REGISTRY, info(me), INFO_PARAM, {
        ...stored,
        models,
        price,
        peerId,
      } as never);
      call.emit(PROVIDER_REGISTRY, PROVIDER_REGISTRY_ABI, "ServiceUpdated", {
        provider: me.toString() as Hex,
        models,
        price,
        peerId,
      });
    },
    async unbond(call, [amount]) {
      const me = call.caller;
      require(await isRegistered(call, me), "not a registered provider");
      const stake = await get(call, me, "stake");
      require(amount > 0n && amount <= stake, `can unbond 1 to ${stake} wei`);
      const withdrawableAt = call.block.timestamp + COMPUTE_PARAMS.unbondingPeriod;
      await put(call, me, "stake", stake - amount);
      await put(call, me, "unbonding", (await get(call, me, "unbonding")) + amount);
      await put(call, me, "withdrawableAt", withdrawableAt);
      call.emit(PROVIDER_REGISTRY, PROVIDER_REGISTRY_ABI, "UnbondStarted", {
        provider: me.toString() as Hex,
        amount,
        stake: stake - amount,
        withdrawableAt,
      });
    },
    async withdraw(call) {
      const me = call.caller;
      const amount = await get(call, me, "unbonding");
      require(amount > 0n, "nothing unbonding");
      const at = await get(call, me, "withdrawableAt");
      require(call.block.timestamp >= at, `unbonding until ${at}`);
      await put(call, me, "unbonding", 0n);
      await put(call, me, "withdrawableAt", 0n);
      await call.transfer(PROVIDER_REGISTRY, me, amount);
      call.emit(PROVIDER_REGISTRY, PROVIDER_REGISTRY_ABI, "Withdrawn", {
        provider: me.toString() as Hex,
        amount,
      });
    },
    async proveValidator(call, [beaconTimestamp, validatorIndex, validator, branch]) {
      const me = call.caller;
      const stored = (await loadAbi(call, PROVIDER_REGISTRY, info(me), INFO_PARAM)) as Info | undefined;
      require(stored !== undefined, "not a registered provider");
      require(validator.pubkey.toLowerCase() ===
        stored.blsPubkey.toLowerCase(), "the validator's key is not this provider's BLS key");
      require(branch.length === BRANCH_LENGTH, `a validator branch has ${BRANCH_LENGTH} nodes`);
      const index = beaconTimestamp % BEACON_ROOTS_LENGTH;
      require((await call.load(BEACON_ROOTS_ADDRESS, word(index))) ===
        beaconTimestamp, "no beacon block root for that timestamp (older than EIP-4788's buffer?)");
      const blockRoot = await call.loadWord(BEACON_ROOTS_ADDRESS, word(index + BEACON_ROOTS_LENGTH));
      call.charge(SYSTEM_GAS.hashWord * 2n * BigInt(BRANCH_LENGTH + 16));
      const record = {
        pubkey: hexToBytes(validator.pubkey),
        withdrawalCredentials: hexToBytes(validator.withdrawalCredentials),
        effectiveBalance: validator.effectiveBalance,
        slashed: validator.slashed,
        activationEligibilityEpoch: validator.activationEligibilityEpoch,
        activationEpoch: validator.activationEpoch,
        exitEpoch: validator.exitEpoch,
        withdrawableEpoch: validator.withdrawableEpoch,
      };
      require(record.pubkey.length === 48 &&
        record.withdrawalCredentials.length === 32, "malformed validator record");
      const root = branchRoot(
        validatorRoot(record),
        branch.map((b) => hexToBytes(b)),
        validatorGindex(validatorIndex),
      );
      require(equalsBytes(root, blockRoot), "the branch does not lead to that beacon block root");
      require(!validator.slashed, "the validator is slashed");
      require(validator.activationEpoch !== FAR_FUTURE_EPOCH, "the validator is not activated");
      require(validator.exitEpoch === FAR_FUTURE_EPOCH, "the validator is exiting");
      await put(call, me, "validatorIndex", validatorIndex);
      await put(call, me, "validatorProvenAt", call.block.timestamp);
      call.emit(PROVIDER_REGISTRY, PROVIDER_REGISTRY_ABI, "ValidatorProven", {
        provider: me.toString() as Hex,
        validatorIndex,
        beaconTimestamp,
      });
    },
    async validatorOf(call, [provider]) {
      const a = createAddressFromString(provider);
      return [await get(call, a, "validatorIndex"), await get(call, a, "validatorProvenAt")] as const;
    },
    async getProvider(call, [provider]) {
      const a = createAddressFromString(provider);
      const stored = (await loadAbi(call, PROVIDER_REGISTRY, info(a), INFO_PARAM)) as Info | undefined;
      require(stored !== undefined, "unknown provider");
      return {
        account: provider,
        status: await statusOf(call, a),
        stake: await get(call, a, "stake"),
        unbonding: await get(call, a, "unbonding"),
        withdrawableAt: await get(call, a, "withdrawableAt"),
        blsPubkey: stored.blsPubkey,
        gpu: stored.gpu,
        models: stored.models,
        price: stored.price,
        peerId: stored.peerId,
        registeredAt: await get(call, a, "registeredAt"),
        jailedUntil: await get(call, a, "jailedUntil"),
        slashed: await get(call, a, "slashed"),
      };
    },
    async providerCount(call) {
      return call.load(PROVIDER_REGISTRY, COUNT);
    },
    async providerAt(call, [index]) {
      require(index < (await call.load(PROVIDER_REGISTRY, COUNT)), "index out of range");
      return `0x${(await call.load(PROVIDER_REGISTRY, at(index))).toString(16).padStart(40, "0")}` as Hex;
    },
    async minimumStake() {
      return COMPUTE_PARAMS.minProviderStake;
    },
  },
);
