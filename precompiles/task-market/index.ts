/**
 * TaskMarket (ITaskMarket.sol), the native system contract at
 * `SYSTEM_CONTRACT_ADDRESSES.taskMarket`: batch tasks from submission through a sealed-bid
 * reverse auction, execution, committee verification and settlement. The interface's comment
 * gives the life of a task; docs/decisions/0011-compute-settlement.md the reasons.
 *
 * Money: a task's deposit is held at this address and tracked per task (`escrow`); every payout
 * comes out of that task's escrow and can never exceed it. Slashed provider stake is paid out or
 * burned from the provider registry's address, where stake is held.
 */
import { fastAggregateVerify, PublicKey, Signature } from "@chainsafe/blst";
import { type Address, createAddressFromString } from "@ethereumjs/util";
import { sha256 } from "ethereum-cryptography/sha256";
import { type ContractFunctionReturnType, encodeAbiParameters, type Hex, hexToBytes } from "viem";
import { ONE_OGPU, PROVIDER_REWARDS_RELEASE_SECONDS, TOKEN_TABLE } from "../../genesis/token.ts";
import { keccak256 } from "../../node/execution/crypto.ts";
import { SYSTEM_CONTRACT_ADDRESSES, TASK_MARKET_RELEASE_START_SLOT } from "../addresses.ts";
import { require } from "../framework/errors.ts";
import { SYSTEM_GAS } from "../framework/gas.ts";
import { Fields, loadAbi, storeAbi } from "../framework/records.ts";
import { slotOf } from "../framework/storage.ts";
import { type SystemCall, systemContract } from "../framework/system-call.ts";
import { checkPolicy, isRegistered as isModelRegistered } from "../model-registry/index.ts";
import { COMPUTE_PARAMS, hasQuorum, SLASH_SPLITS } from "../params.ts";
import {
  activeProviders,
  blsKeyOf,
  isProvenValidator,
  PROVIDER_REGISTRY,
  ProviderStatus,
  slash,
  stakeOf,
  statusOf,
} from "../provider-registry/index.ts";
import { TASK_MARKET_ABI } from "./abi.ts";

export { TASK_MARKET_ABI };
export const TASK_MARKET = createAddressFromString(SYSTEM_CONTRACT_ADDRESSES.taskMarket);

export type Task = ContractFunctionReturnType<typeof TASK_MARKET_ABI, "view", "getTask">;
export type Bid = ContractFunctionReturnType<typeof TASK_MARKET_ABI, "view", "getBids">[number];
export type TaskPolicy = Task["policy"];

export const TaskState = {
  None: 0,
  Open: 1,
  Bidding: 2,
  Assigned: 3,
  Executed: 4,
  Verifying: 5,
  Settled: 6,
  Reassigned: 7,
  Failed: 8,
  Cancelled: 9,
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];
export const TASK_STATE_NAMES = Object.keys(TaskState) as (keyof typeof TaskState)[];

export const Verdict = { None: 0, Accept: 1, Reject: 2, InvalidTask: 3 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** An output commitment of zero: the provider reports that the task cannot run. */
export const NO_OUTPUT = `0x${"00".repeat(32)}` as const;
const ATTESTATION_PREFIX = new TextEncoder().encode("OGPUATT1");
const MAX_VOTES = 3;

const COUNT = slotOf("task.count");
const core = (id: bigint) => slotOf("task.core", id);
const committeeSlot = (id: bigint) => slotOf("task.committee", id);
const bidOf = (id: bigint, provider: Address) => slotOf("task.bidOf", id, provider.bytes);
const fields = new Fields("task", [
  "state",
  "round",
  "provider",
  "price",
  "executionDeadline",
  "output",
  "environment",
  "executedAt",
  "executedBlock",
  "verifyDeadline",
  "verdict",
  "closedAt",
  "escrow",
  "bidCount",
] as const);
type Field = Parameters<typeof fields.slot>[1];
const bidFields = new Fields("task.bid", [
  "provider",
  "commitment",
  "committedAt",
  "revealed",
  "price",
  "excluded",
] as const);
type BidField = Parameters<typeof bidFields.slot>[1];

const POLICY_COMPONENTS = [
  { name: "kind", type: "uint8" },
  { name: "rtolPpb", type: "uint32" },
  { name: "atolPpb", type: "uint32" },
  { name: "topK", type: "uint8" },
] as const;
const CORE_PARAM = {
  type: "tuple",
  components: [
    { name: "client", type: "address" },
    { name: "model", type: "bytes32" },
    { name: "inputHash", type: "bytes32" },
    { name: "deposit", type: "uint256" },
    { name: "maxPrice", type: "uint256" },
    { name: "submittedAt", type: "uint64" },
    { name: "commitEnd", type: "uint64" },
    { name: "revealEnd", type: "uint64" },
    { name: "executionTimeout", type: "uint64" },
    { name: "deadline", type: "uint64" },
    { name: "committeeSize", type: "uint8" },
    { name: "policy", type: "tuple", components: POLICY_COMPONENTS },
    { name: "policyHash", type: "bytes32" },
    {
      name: "payment",
      type: "tuple",
      components: [
        { name: "kind", type: "uint8" },
        { name: "verificationFee", type: "uint256" },
      ],
    },
  ],
} as const;
interface Core {
  client: Hex;
  model: Hex;
  inputHash: Hex;
  deposit: bigint;
  maxPrice: bigint;
  submittedAt: bigint;
  commitEnd: bigint;
  revealEnd: bigint;
  executionTimeout: bigint;
  deadline: bigint;
  committeeSize: number;
  policy: TaskPolicy;
  policyHash: Hex;
  payment: { kind: number; verificationFee: bigint };
}
const COMMITTEE_PARAM = {
  type: "tuple",
  components: [
    { name: "members", type: "address[]" },
    { name: "stakes", type: "uint256[]" },
  ],
} as const;
interface Committee {
  members: readonly Hex[];
  stakes: readonly bigint[];
}

const word32 = (v: bigint): Hex => `0x${v.toString(16).padStart(64, "0")}`;
const addressOf = (v: bigint): Address => createAddressFromString(`0x${v.toString(16).padStart(40, "0")}`);
const hex = (a: Address): Hex => a.toString() as Hex;

/** keccak256(abi.encode(uint8 kind, uint32 rtolPpb, uint32 atolPpb, uint8 topK)). */
export function policyHash(policy: TaskPolicy): Hex {
  const encoded = encodeAbiParameters(POLICY_COMPONENTS, [
    policy.kind,
    policy.rtolPpb,
    policy.atolPpb,
    policy.topK,
  ]);
  return `0x${Buffer.from(keccak256(hexToBytes(encoded))).toString("hex")}`;
}

/** The bytes committee members sign for a verdict on a task's output (see ITaskMarket). */
export function attestationMessage(
  chainId: bigint,
  taskId: bigint,
  round: number,
  outputCommitment: Hex,
  verdict: Verdict,
  policy: Hex,
): Uint8Array {
  const encoded = encodeAbiParameters(
    [
      { type: "uint256" },
      { type: "address" },
      { type: "uint256" },
      { type: "uint32" },
      { type: "bytes32" },
      { type: "uint8" },
      { type: "bytes32" },
    ],
    [chainId, SYSTEM_CONTRACT_ADDRESSES.taskMarket, taskId, round, outputCommitment, verdict, policy],
  );
  const out = new Uint8Array(ATTESTATION_PREFIX.length + 32);
  out.set(ATTESTATION_PREFIX);
  out.set(keccak256(hexToBytes(encoded)), ATTESTATION_PREFIX.length);
  return out;
}

/** The commitment of a sealed bid: keccak256(abi.encode(taskId, provider, price, salt)). */
export function bidCommitment(taskId: bigint, provider: Hex, price: bigint, salt: Hex): Hex {
  const encoded = encodeAbiParameters(
    [{ type: "uint256" }, { type: "address" }, { type: "uint256" }, { type: "bytes32" }],
    [taskId, provider, price, salt],
  );
  return `0x${Buffer.from(keccak256(hexToBytes(encoded))).toString("hex")}`;
}

const get = (call: SystemCall, id: bigint, f: Field) => call.load(TASK_MARKET, fields.slot(id, f));
const put = (call: SystemCall, id: bigint, f: Field, v: bigint | Hex) =>
  call.store(TASK_MARKET, fields.slot(id, f), typeof v === "bigint" ? v : BigInt(v));
const getBid = (call: SystemCall, id: bigint, i: bigint, f: BidField) =>
  call.load(TASK_MARKET, bidFields.slot([id, i], f));
const putBid = (call: SystemCall, id: bigint, i: bigint, f: BidField, v: bigint) =>
  call.store(TASK_MARKET, bidFields.slot([id, i], f), v);

async function loadCore(call: SystemCall, id: bigint): Promise<Core> {
  const c = (await loadAbi(call, TASK_MARKET, core(id), CORE_PARAM)) as Core | undefined;
  require(c !== undefined, `unknown task ${id}`);
  return c;
}

async function stateOf(call: SystemCall, id: bigint): Promise<TaskState> {
  return Number(await get(call, id, "state")) as TaskState;
}

async function setState(call: SystemCall, id: bigint, from: TaskState, to: TaskState): Promise<void> {
  await put(call, id, "state", BigInt(to));
  if (to === TaskState.Settled || to === TaskState.Failed || to === TaskState.Cancelled)
    await put(call, id, "closedAt", call.block.timestamp);
  call.emit(TASK_MARKET, TASK_MARKET_ABI, "TaskStateChanged", {
    taskId: id,
    from,
    to,
    round: Number(await get(call, id, "round")),
  });
}

/** Pays `amount` out of task `id`'s escrow. */
async function payOut(call: SystemCall, id: bigint, to: Address, amount: bigint): Promise<void> {
  const escrow = await get(call, id, "escrow");
  require(amount <= escrow, `internal error: task ${id} escrow ${escrow} < ${amount}`);
  await put(call, id, "escrow", escrow - amount);
  await call.transfer(TASK_MARKET, to, amount);
}

/** Refunds what is left of task `id`'s escrow to its client; returns the amount. */
async function refundRest(call: SystemCall, id: bigint, client: Hex): Promise<bigint> {
  const rest = await get(call, id, "escrow");
  await payOut(call, id, createAddressFromString(client), rest);
  return rest;
}

async function fail(call: SystemCall, id: bigint, c: Core, from: TaskState): Promise<void> {
  await refundRest(call, id, c.client);
  await setState(call, id, from, TaskState.Failed);
}

/**
 * The best revealed, not excluded bid whose provider is still active: lowest price, then earlier
 * commit, then higher stake, then earlier index.
 */
async function bestBid(
  call: SystemCall,
  id: bigint,
): Promise<{ index: bigint; provider: Address; price: bigint } | undefined> {
  const count = await get(call, id, "bidCount");
  let best:
    | { index: bigint; provider: Address; price: bigint; committedAt: bigint; stake: bigint }
    | undefined;
  for (let i = 0n; i < count; i++) {
    if ((await getBid(call, id, i, "revealed")) === 0n || (await getBid(call, id, i, "excluded")) !== 0n)
      continue;
    const provider = addressOf(await getBid(call, id, i, "provider"));
    if ((await statusOf(call, provider)) !== ProviderStatus.Active) continue;
    const price = await getBid(call, id, i, "price");
    const committedAt = await getBid(call, id, i, "committedAt");
    const stake = await stakeOf(call, provider);
    const better =
      best === undefined ||
      price < best.price ||
      (price === best.price &&
        (committedAt < best.committedAt || (committedAt === best.committedAt && stake > best.stake)));
    if (better) best = { index: i, provider, price, committedAt, stake };
  }
  return best;
}

/** Assigns task `id` to its best remaining bid (round + 1), or fails it when none is left. */
async function assignNext(call: SystemCall, id: bigint, c: Core, from: TaskState): Promise<void> {
  const round = Number(await get(call, id, "round"));
  const bid = round < COMPUTE_PARAMS.maxRounds ? await bestBid(call, id) : undefined;
  const now = call.block.timestamp;
  if (bid === undefined || now >= c.deadline) {
    await fail(call, id, c, from);
    return;
  }
  const executionDeadline = now + c.executionTimeout < c.deadline ? now + c.executionTimeout : c.deadline;
  await put(call, id, "round", BigInt(round + 1));
  await put(call, id, "provider", BigInt(hex(bid.provider)));
  await put(call, id, "price", bid.price);
  await put(call, id, "executionDeadline", executionDeadline);
  await put(call, id, "output", 0n);
  await put(call, id, "environment", 0n);
  await put(call, id, "executedAt", 0n);
  call.emit(TASK_MARKET, TASK_MARKET_ABI, "TaskAssigned", {
    taskId: id,
    provider: hex(bid.provider),
    price: bid.price,
    round: round + 1,
    executionDeadline,
  });
  await setState(call, id, from, round === 0 ? TaskState.Assigned : TaskState.Reassigned);
}

async function excludeProvider(call: SystemCall, id: bigint, provider: Address): Promise<void> {
  const index = await call.load(TASK_MARKET, bidOf(id, provider));
  if (index !== 0n) await putBid(call, id, index - 1n, "excluded", 1n);
}

/** Splits `amount` held at `from` among `members`: equally, or by `stakes` when given. */
async function payMembers(
  call: SystemCall,
  id: bigint,
  from: Address,
  members: Address[],
  amount: bigint,
  stakes?: bigint[],
  escrow = false,
): Promise<bigint> {
  if (members.length === 0 || amount === 0n) return 0n;
  const total = stakes?.reduce((a, b) => a + b, 0n) ?? BigInt(members.length);
  let paid = 0n;
  for (const [i, member] of members.entries()) {
    const share = (amount * (stakes?.[i] ?? 1n)) / total;
    if (share === 0n) continue;
    if (escrow) await payOut(call, id, member, share);
    else await call.transfer(from, member, share);
    call.emit(TASK_MARKET, TASK_MARKET_ABI, "CommitteePaid", {
      taskId: id,
      member: hex(member),
      amount: share,
    });
    paid += share;
  }
  return paid;
}

const REWARDS = createAddressFromString(SYSTEM_CONTRACT_ADDRESSES.rewards);
const REWARDS_TOTAL = TOKEN_TABLE.providerRewards.amount * ONE_OGPU;

/**
 * Pays up to `amount` from the provider-rewards pool, never touching its still-locked part
 * (linear release over 10 years from the genesis timestamp, as for withdrawals: decision 0007).
 * Returns what was paid.
 */
async function payFromRewards(call: SystemCall, to: Address, amount: bigint): Promise<bigint> {
  const start = await call.load(TASK_MARKET, hexToBytes(TASK_MARKET_RELEASE_START_SLOT));
  const now = call.block.timestamp;
  if (start === 0n || now <= start || amount === 0n) return 0n;
  const elapsed = now - start;
  const released =
    elapsed >= PROVIDER_REWARDS_RELEASE_SECONDS
      ? REWARDS_TOTAL
      : (REWARDS_TOTAL * elapsed) / PROVIDER_REWARDS_RELEASE_SECONDS;
  const locked = REWARDS_TOTAL - released;
  const balance = await call.balance(REWARDS);
  const available = balance > locked ? balance - locked : 0n;
  const paid = amount < available ? amount : available;
  await call.transfer(REWARDS, to, paid);
  return paid;
}

function bps(amount: bigint, basisPoints: number): bigint {
  return (amount * BigInt(basisPoints)) / 10_000n;
}

/** Draws the committee for task `id`'s current round from this block's prevRandao. */
async function draw(call: SystemCall, id: bigint, c: Core, provider: Address): Promise<Committee> {
  const client = createAddressFromString(c.client);
  const pool = (await activeProviders(call)).filter(
    (p) => !p.address.equals(provider) && !p.address.equals(client),
  );
  const size = Math.min(c.committeeSize, pool.length);
  const round = await get(call, id, "round");
  const seed = keccak256(
    hexToBytes(
      encodeAbiParameters(
        [{ type: "bytes32" }, { type: "uint256" }, { type: "uint256" }],
        [`0x${Buffer.from(call.block.prevRandao).toString("hex")}`, id, round],
      ),
    ),
  );
  const members: Hex[] = [];
  const stakes: bigint[] = [];
  for (let j = 0; j < size; j++) {
    const total = pool.reduce((a, p) => a + p.stake, 0n);
    const r =
      BigInt(
        `0x${Buffer.from(keccak256(hexToBytes(encodeAbiParameters([{ type: "bytes32" }, { type: "uint256" }], [`0x${Buffer.from(seed).toString("hex")}`, BigInt(j)])))).toString("hex")}`,
      ) % total;
    let acc = 0n;
    let pick = pool.length - 1;
    for (const [k, p] of pool.entries()) {
      acc += p.stake;
      if (r < acc) {
        pick = k;
        break;
      }
    }
    const [chosen] = pool.splice(pick, 1);
    members.push(hex(chosen.address));
    stakes.push(chosen.stake);
  }
  return { members, stakes };
}

async function committeeOf(call: SystemCall, id: bigint): Promise<Committee> {
  return (
    ((await loadAbi(call, TASK_MARKET, committeeSlot(id), COMMITTEE_PARAM)) as Committee | undefined) ?? {
      members: [],
      stakes: [],
    }
  );
}

type VoteArg = { verdict: number; outputCommitment: Hex; signers: bigint; signature: Hex };

export const taskMarketPrecompile = systemContract(SYSTEM_CONTRACT_ADDRESSES.taskMarket, TASK_MARKET_ABI, {
  async submitTask(call, [r]) {
    const p = COMPUTE_PARAMS;
    const now = call.block.timestamp;
    require(await isModelRegistered(call, r.model), "model not registered");
    require(r.inputHash !== NO_OUTPUT, "input hash is zero");
    const input = hexToBytes(r.input);
    if (input.length > 0) {
      require(input.length <=
        p.maxInlineInput, `inline input above ${p.maxInlineInput} bytes: pass it by hash`);
      call.charge(SYSTEM_GAS.hashWord * BigInt(Math.ceil(input.length / 32)));
      require(`0x${Buffer.from(sha256(input)).toString("hex")}` ===
        r.inputHash.toLowerCase(), "inline input does not match its sha256 inputHash");
    }
    require(r.maxPrice > 0n, "max price is zero");
    require(r.biddingWindow >= p.minBiddingWindow &&
      r.biddingWindow <=
        p.maxWindow, `bidding window must be ${p.minBiddingWindow} to ${p.maxWindow} seconds`);
    require(r.executionTimeout >= p.minExecutionTimeout &&
      r.executionTimeout <=
        p.maxWindow, `execution timeout must be ${p.minExecutionTimeout} to ${p.maxWindow} seconds`);
    const commitEnd = now + r.biddingWindow;
    const revealEnd = commitEnd + p.revealWindow;
    const earliest = revealEnd + r.executionTimeout + p.verifyWindow;
    require(r.deadline >=
      earliest, `deadline must be at least ${earliest} (bidding, reveal, execution and verification)`);
    require(r.deadline <= now + p.maxWindow, "deadline too far in the future");
    require(r.committeeSize >= 1 &&
      r.committeeSize <= p.maxCommitteeSize, `committee size must be 1 to ${p.maxCommitteeSize}`);
    checkPolicy(r.policy);
    require(r.payment.kind === 0 || r.payment.kind === 1, `unknown payment function ${r.payment.kind}`);
    const minFee = p.minFeePerMember * BigInt(r.committeeSize);
    require(r.payment.verificationFee >=
      minFee, `verification fee below ${minFee} wei for ${r.committeeSize} members`);
    const needed = r.maxPrice + r.payment.verificationFee;
    require(call.value >= needed, `deposit ${call.value} below max price + verification fee (${needed} wei)`);

    const id = (await call.load(TASK_MARKET, COUNT)) + 1n;
    await call.store(TASK_MARKET, COUNT, id);
    const c: Core = {
      client: hex(call.caller),
      model: r.model,
      inputHash: r.inputHash,
      deposit: call.value,
      maxPrice: r.maxPrice,
      submittedAt: now,
      commitEnd,
      revealEnd,
      executionTimeout: r.executionTimeout,
      deadline: r.deadline,
      committeeSize: r.committeeSize,
      policy: r.policy,
      policyHash: policyHash(r.policy),
      payment: r.payment,
    };
    await storeAbi(call, TASK_MARKET, core(id), CORE_PARAM, c as never);
    await put(call, id, "escrow", call.value);
    call.emit(TASK_MARKET, TASK_MARKET_ABI, "TaskSubmitted", {
      taskId: id,
      client: c.client,
      model: r.model,
      inputHash: r.inputHash,
      deposit: call.value,
      maxPrice: r.maxPrice,
      input: r.input,
    });
    await setState(call, id, TaskState.None, TaskState.Open);
    return id;
  },

  async cancelTask(call, [id]) {
    const c = await loadCore(call, id);
    require(call.caller.equals(createAddressFromString(c.client)), "only the client can cancel");
    const state = await stateOf(call, id);
    require(state === TaskState.Open || state === TaskState.Bidding, "task already awarded or closed");
    await refundRest(call, id, c.client);
    await setState(call, id, state, TaskState.Cancelled);
  },

  async commitBid(call, [id, commitment]) {
    const c = await loadCore(call, id);
    const state = await stateOf(call, id);
    require(state === TaskState.Open || state === TaskState.Bidding, "task is not taking bids");
    require(call.block.timestamp < c.commitEnd, "bidding closed");
    const me = call.caller;
    require(!me.equals(createAddressFromString(c.client)), "the client cannot bid on its own task");
    const status = await statusOf(call, me);
    require(status !== ProviderStatus.None, "not a registered provider");
    require(status !== ProviderStatus.Jailed, "provider is jailed");
    require(status === ProviderStatus.Active, "provider stake below the minimum");
    require((await call.load(TASK_MARKET, bidOf(id, me))) === 0n, "already bid on this task");
    const index = await get(call, id, "bidCount");
    await putBid(call, id, index, "provider", BigInt(hex(me)));
    await putBid(call, id, index, "commitment", BigInt(commitment));
    await putBid(call, id, index, "committedAt", call.block.timestamp);
    await put(call, id, "bidCount", index + 1n);
    await call.store(TASK_MARKET, bidOf(id, me), index + 1n);
    call.emit(TASK_MARKET, TASK_MARKET_ABI, "BidCommitted", { taskId: id, provider: hex(me), commitment });
    if (state === TaskState.Open) await setState(call, id, state, TaskState.Bidding);
  },

  async revealBid(call, [id, price, salt]) {
    const c = await loadCore(call, id);
    require((await stateOf(call, id)) === TaskState.Bidding, "task is not in its bidding phase");
    const now = call.block.timestamp;
    require(now >= c.commitEnd, "reveal phase not started");
    require(now < c.revealEnd, "reveal phase over");
    const me = call.caller;
    const slot = await call.load(TASK_MARKET, bidOf(id, me));
    require(slot !== 0n, "no committed bid");
    const index = slot - 1n;
    require((await getBid(call, id, index, "revealed")) === 0n, "bid already revealed");
    require(BigInt(bidCommitment(id, hex(me), price, salt)) ===
      (await getBid(call, id, index, "commitment")), "reveal does not match the commitment");
    require(price <= c.maxPrice, "bid above the task's max price");
    await putBid(call, id, index, "revealed", 1n);
    await putBid(call, id, index, "price", price);
    call.emit(TASK_MARKET, TASK_MARKET_ABI, "BidRevealed", { taskId: id, provider: hex(me), price });
  },

  async closeAuction(call, [id]) {
    const c = await loadCore(call, id);
    const state = await stateOf(call, id);
    require(state === TaskState.Open || state === TaskState.Bidding, "auction already closed");
    require(call.block.timestamp >= c.revealEnd, "reveal phase not over");
    await assignNext(call, id, c, state);
  },

  async commitResult(call, [id, outputCommitment, environment]) {
    const state = await stateOf(call, id);
    require(state === TaskState.Assigned || state === TaskState.Reassigned, "task is not assigned");
    require(call.caller.equals(
      addressOf(await get(call, id, "provider")),
    ), "only the assigned provider can commit a result");
    require(call.block.timestamp <= (await get(call, id, "executionDeadline")), "execution deadline passed");
    await put(call, id, "output", outputCommitment);
    await put(call, id, "environment", environment);
    await put(call, id, "executedAt", call.block.timestamp);
    await put(call, id, "executedBlock", call.block.number);
    call.emit(TASK_MARKET, TASK_MARKET_ABI, "ResultCommitted", {
      taskId: id,
      provider: hex(call.caller),
      outputCommitment,
      environment,
      round: Number(await get(call, id, "round")),
    });
    await setState(call, id, state, TaskState.Executed);
  },

  async drawCommittee(call, [id]) {
    const c = await loadCore(call, id);
    require((await stateOf(call, id)) === TaskState.Executed, "task has no result awaiting verification");
    require(call.block.number >
      (await get(call, id, "executedBlock")), "the committee is drawn from a later block's randomness");
    const provider = addressOf(await get(call, id, "provider"));
    const committee = await draw(call, id, c, provider);
    if (committee.members.length === 0) {
      await fail(call, id, c, TaskState.Executed);
      return;
    }
    await storeAbi(call, TASK_MARKET, committeeSlot(id), COMMITTEE_PARAM, committee as never);
    const verifyDeadline = call.block.timestamp + COMPUTE_PARAMS.verifyWindow;
    await put(call, id, "verifyDeadline", verifyDeadline);
    call.emit(TASK_MARKET, TASK_MARKET_ABI, "CommitteeDrawn", {
      taskId: id,
      round: Number(await get(call, id, "round")),
      members: committee.members,
      verifyDeadline,
    });
    await setState(call, id, TaskState.Executed, TaskState.Verifying);
  },

  async settle(call, [id, round, votes]) {
    // Settlements are whole transactions: the block-validity rule (a failing settlement makes
    // the block invalid) looks at top-level calls only.
    require(call.depth === 0, "settle must be called by a transaction, not a contract");
    const c = await loadCore(call, id);
    require((await stateOf(call, id)) === TaskState.Verifying, "task is not being verified");
    require(round === Number(await get(call, id, "round")), "attestations for another round");
    const committee = await committeeOf(call, id);
    const n = committee.members.length;
    require(votes.length >= 1 && votes.length <= MAX_VOTES, `1 to ${MAX_VOTES} votes`);
    const output = word32(await get(call, id, "output"));
    const totalStake = committee.stakes.reduce((a, b) => a + b, 0n);
    let used = 0n;
    const tallies: { vote: VoteArg; members: Address[]; stakes: bigint[]; stake: bigint }[] = [];
    for (const vote of votes as readonly VoteArg[]) {
      require(vote.verdict >= Verdict.Accept &&
        vote.verdict <= Verdict.InvalidTask, `unknown verdict ${vote.verdict}`);
      require(vote.outputCommitment.toLowerCase() === output, "attestation for a different output");
      require(vote.signers !== 0n && vote.signers < 1n << BigInt(n), "signers outside the committee");
      require((vote.signers & used) === 0n, "a member appears in two votes");
      used |= vote.signers;
      const members: Address[] = [];
      const stakes: bigint[] = [];
      const keys: PublicKey[] = [];
      for (let i = 0; i < n; i++) {
        if (((vote.signers >> BigInt(i)) & 1n) === 0n) continue;
        const member = createAddressFromString(committee.members[i]);
        members.push(member);
        stakes.push(committee.stakes[i]);
        keys.push(PublicKey.fromBytes(await blsKeyOf(call, member)));
      }
      call.charge(SYSTEM_GAS.blsVerify + SYSTEM_GAS.blsAggregateKey * BigInt(keys.length));
      const message = attestationMessage(
        call.chainId,
        id,
        round,
        output,
        vote.verdict as Verdict,
        c.policyHash,
      );
      let valid = false;
      try {
        valid = fastAggregateVerify(message, keys, Signature.fromBytes(hexToBytes(vote.signature), true));
      } catch {
        valid = false;
      }
      require(valid, `invalid aggregate signature for verdict ${vote.verdict}`);
      tallies.push({ vote, members, stakes, stake: stakes.reduce((a, b) => a + b, 0n) });
    }
    const quorum = tallies.find((t) => hasQuorum(t.stake, totalStake));
    require(quorum !== undefined, "no verdict reaches the quorum");
    const verdict = quorum.vote.verdict as Verdict;
    require(!(
      verdict === Verdict.Accept && output === NO_OUTPUT
    ), "cannot accept a report that the task cannot run");
    // Members who voted against the quorum lose a small part of their stake (burned).
    for (const t of tallies) {
      if (t === quorum) continue;
      for (const member of t.members) {
        const amount = await slash(
          call,
          member,
          COMPUTE_PARAMS.dissentSlashBps,
          id,
          "voted against the committee quorum",
          false,
        );
        await call.burn(PROVIDER_REGISTRY, amount);
        if (amount > 0n) call.emit(TASK_MARKET, TASK_MARKET_ABI, "Burned", { taskId: id, amount });
      }
    }
    await put(call, id, "verdict", BigInt(verdict));
    const provider = addressOf(await get(call, id, "provider"));
    const client = createAddressFromString(c.client);
    if (verdict === Verdict.Accept) {
      const price = await get(call, id, "price");
      await payOut(call, id, provider, price);
      if (await isProvenValidator(call, provider)) {
        const bonus = await payFromRewards(call, provider, bps(price, COMPUTE_PARAMS.validatorBonusBps));
        if (bonus > 0n)
          call.emit(TASK_MARKET, TASK_MARKET_ABI, "ValidatorBonusPaid", {
            taskId: id,
            provider: hex(provider),
            amount: bonus,
          });
      }
      const committeePaid = await payMembers(
        call,
        id,
        TASK_MARKET,
        quorum.members,
        c.payment.verificationFee,
        c.payment.kind === 1 ? quorum.stakes : undefined,
        true,
      );
      const refunded = await refundRest(call, id, c.client);
      call.emit(TASK_MARKET, TASK_MARKET_ABI, "TaskSettled", {
        taskId: id,
        round,
        verdict,
        providerPaid: price,
        committeePaid,
        refunded,
      });
      await setState(call, id, TaskState.Verifying, TaskState.Settled);
      return;
    }
    if (verdict === Verdict.Reject) {
      const amount = await slash(
        call,
        provider,
        COMPUTE_PARAMS.rejectSlashBps,
        id,
        "result rejected by the committee",
        true,
      );
      const split = SLASH_SPLITS.reject;
      const toClient = bps(amount, split.client);
      await call.transfer(PROVIDER_REGISTRY, client, toClient);
      const committeePaid = await payMembers(
        call,
        id,
        PROVIDER_REGISTRY,
        quorum.members,
        bps(amount, split.committee),
      );
      const burned = amount - toClient - committeePaid;
      await call.burn(PROVIDER_REGISTRY, burned);
      call.emit(TASK_MARKET, TASK_MARKET_ABI, "Burned", { taskId: id, amount: burned });
      call.emit(TASK_MARKET, TASK_MARKET_ABI, "TaskSettled", {
        taskId: id,
        round,
        verdict,
        providerPaid: 0n,
        committeePaid,
        refunded: 0n,
      });
      await excludeProvider(call, id, provider);
      await assignNext(call, id, c, TaskState.Verifying);
      return;
    }
    // InvalidTask: the client's deposit is slashed; provider and committee are paid for their work.
    const escrow = await get(call, id, "escrow");
    const slashed = bps(escrow, COMPUTE_PARAMS.invalidTaskSlashBps);
    const split = SLASH_SPLITS.invalidTask;
    const providerPaid = bps(slashed, split.provider);
    await payOut(call, id, provider, providerPaid);
    const committeePaid = await payMembers(
      call,
      id,
      TASK_MARKET,
      quorum.members,
      bps(slashed, split.committee),
      undefined,
      true,
    );
    const burned = slashed - providerPaid - committeePaid;
    await put(call, id, "escrow", (await get(call, id, "escrow")) - burned);
    await call.burn(TASK_MARKET, burned);
    call.emit(TASK_MARKET, TASK_MARKET_ABI, "Burned", { taskId: id, amount: burned });
    const refunded = await refundRest(call, id, c.client);
    call.emit(TASK_MARKET, TASK_MARKET_ABI, "TaskSettled", {
      taskId: id,
      round,
      verdict,
      providerPaid,
      committeePaid,
      refunded,
    });
    await setState(call, id, TaskState.Verifying, TaskState.Failed);
  },

  async timeout(call, [id]) {
    const c = await loadCore(call, id);
    const state = await stateOf(call, id);
    const now = call.block.timestamp;
    if (state === TaskState.Assigned || state === TaskState.Reassigned) {
      require(now > (await get(call, id, "executionDeadline")), "execution deadline not reached");
      const provider = addressOf(await get(call, id, "provider"));
      const amount = await slash(
        call,
        provider,
        COMPUTE_PARAMS.missSlashBps,
        id,
        "missed the execution deadline",
        true,
      );
      const toClient = bps(amount, SLASH_SPLITS.miss.client);
      await call.transfer(PROVIDER_REGISTRY, createAddressFromString(c.client), toClient);
      await call.burn(PROVIDER_REGISTRY, amount - toClient);
      call.emit(TASK_MARKET, TASK_MARKET_ABI, "Burned", { taskId: id, amount: amount - toClient });
      await excludeProvider(call, id, provider);
      await assignNext(call, id, c, state);
      return;
    }
    if (state === TaskState.Verifying) {
      require(now > (await get(call, id, "verifyDeadline")), "verification deadline not reached");
      const round = Number(await get(call, id, "round"));
      if (round < COMPUTE_PARAMS.maxRounds && now < c.deadline) {
        // The committee did not settle in time: a new committee, from a later block, checks
        // the same result (a new round, so old attestations cannot be replayed).
        await put(call, id, "round", BigInt(round + 1));
        await put(call, id, "executedBlock", call.block.number);
        await setState(call, id, state, TaskState.Executed);
        return;
      }
      await fail(call, id, c, state);
      return;
    }
    require(state === TaskState.Open ||
      state === TaskState.Bidding ||
      state === TaskState.Executed, "task is closed");
    require(now > c.deadline, "task deadline not reached");
    await fail(call, id, c, state);
  },

  async getTask(call, [id]) {
    const c = await loadCore(call, id);
    const committee = await committeeOf(call, id);
    return {
      id,
      client: c.client,
      state: await stateOf(call, id),
      model: c.model,
      inputHash: c.inputHash,
      deposit: c.deposit,
      maxPrice: c.maxPrice,
      submittedAt: c.submittedAt,
      commitEnd: c.commitEnd,
      revealEnd: c.revealEnd,
      executionTimeout: c.executionTimeout,
      deadline: c.deadline,
      committeeSize: c.committeeSize,
      policy: c.policy,
      policyHash: c.policyHash,
      payment: c.payment,
      round: Number(await get(call, id, "round")),
      provider: hex(addressOf(await get(call, id, "provider"))),
      price: await get(call, id, "price"),
      executionDeadline: await get(call, id, "executionDeadline"),
      outputCommitment: word32(await get(call, id, "output")),
      environment: word32(await get(call, id, "environment")),
      executedAt: await get(call, id, "executedAt"),
      committee: committee.members,
      verifyDeadline: await get(call, id, "verifyDeadline"),
      verdict: Number(await get(call, id, "verdict")),
      closedAt: await get(call, id, "closedAt"),
    };
  },

  async getBids(call, [id]) {
    await loadCore(call, id);
    const count = await get(call, id, "bidCount");
    const bids: Bid[] = [];
    for (let i = 0n; i < count; i++) {
      bids.push({
        provider: hex(addressOf(await getBid(call, id, i, "provider"))),
        commitment: word32(await getBid(call, id, i, "commitment")),
        committedAt: await getBid(call, id, i, "committedAt"),
        revealed: (await getBid(call, id, i, "revealed")) !== 0n,
        price: await getBid(call, id, i, "price"),
        excluded: (await getBid(call, id, i, "excluded")) !== 0n,
      });
    }
    return bids;
  },

  async taskCount(call) {
    return call.load(TASK_MARKET, COUNT);
  },

  async params() {
    const p = COMPUTE_PARAMS;
    return {
      minProviderStake: p.minProviderStake,
      unbondingPeriod: p.unbondingPeriod,
      minBiddingWindow: p.minBiddingWindow,
      revealWindow: p.revealWindow,
      verifyWindow: p.verifyWindow,
      maxCommitteeSize: p.maxCommitteeSize,
      quorumBps: p.quorumBps,
      maxRounds: p.maxRounds,
      maxInlineInput: p.maxInlineInput,
      minFeePerMember: p.minFeePerMember,
      rejectSlashBps: p.rejectSlashBps,
      missSlashBps: p.missSlashBps,
      dissentSlashBps: p.dissentSlashBps,
      invalidTaskSlashBps: p.invalidTaskSlashBps,
      jailPeriod: p.jailPeriod,
      validatorBonusBps: p.validatorBonusBps,
      validatorProofTtl: p.validatorProofTtl,
    };
  },

  async attestationMessage(call, [id, round, outputCommitment, verdict]) {
    const c = await loadCore(call, id);
    const message = attestationMessage(
      call.chainId,
      id,
      round,
      outputCommitment,
      verdict as Verdict,
      c.policyHash,
    );
    return `0x${Buffer.from(message).toString("hex")}` as Hex;
  },

  async policyHash(_call, [policy]) {
    return policyHash(policy);
  },
});
