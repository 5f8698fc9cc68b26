/**
 * Task flows for tests of the compute APIs and CLI, driven through the Market driver: submit,
 * sealed-bid auction, result commitment and committee draw, settlement by the committee.
 */
import { type Hex, keccak256, parseEventLogs, toHex } from "viem";
import { TASK_MARKET_ABI, type Task, Verdict } from "../../precompiles/task-market/index.ts";
import { type Market, OGPU, type Provider } from "./market.ts";

export const ENV = keccak256(toHex("onnxruntime-node/cpu"));
export const TOLERANCE_POLICY = { kind: 1, rtolPpb: 1_000_000, atolPpb: 10_000, topK: 1 } as const;

export interface SubmitOptions {
  model: Hex;
  inputHash?: Hex;
  input?: Hex;
  maxPrice?: bigint;
  fee?: bigint;
  deposit?: bigint;
  committeeSize?: number;
}

/** Submits a task from account `client`; returns its id. */
export async function submitTask(m: Market, client: number, o: SubmitOptions): Promise<bigint> {
  const head = await m.c.public.getBlock();
  const maxPrice = o.maxPrice ?? 5n * OGPU;
  const fee = o.fee ?? 3n * 10n ** 17n;
  const request = {
    model: o.model,
    inputHash: o.inputHash ?? keccak256(toHex(`input ${head.number}`)),
    input: o.input ?? ("0x" as Hex),
    maxPrice,
    biddingWindow: 4n,
    executionTimeout: 20n,
    deadline: head.timestamp + 400n,
    committeeSize: o.committeeSize ?? 3,
    policy: TOLERANCE_POLICY,
    payment: { kind: 0, verificationFee: fee },
  };
  const [r] = await m.sendAll([m.market(client, "submitTask", [request], o.deposit ?? maxPrice + fee)]);
  if (r.status !== "success") throw new Error("submitTask failed");
  const [event] = parseEventLogs({ abi: TASK_MARKET_ABI, logs: r.logs, eventName: "TaskSubmitted" });
  return event.args.taskId;
}

/** Commits and reveals `bids`, then closes the auction from `keeper`. */
export async function runAuction(
  m: Market,
  id: bigint,
  bids: { p: Provider; price: bigint }[],
  keeper: number,
): Promise<Task> {
  const salts = await m.commitBids(id, bids);
  const task = await m.task(id);
  await m.until(task.commitEnd);
  await m.revealBids(id, bids, salts);
  await m.until(task.revealEnd);
  const [r] = await m.sendAll([m.market(keeper, "closeAuction", [id])]);
  if (r.status !== "success") throw new Error("closeAuction failed");
  return m.task(id);
}

/** The winner commits `output`; a later block draws the committee. */
export async function commitAndDraw(
  m: Market,
  providers: Provider[],
  id: bigint,
  output: Hex,
  keeper: number,
): Promise<Task> {
  const task = await m.task(id);
  const winner = providers.find((x) => x.address.toLowerCase() === task.provider.toLowerCase());
  if (winner === undefined) throw new Error("the winner is not a test provider");
  const [r] = await m.sendAll([m.market(winner.account, "commitResult", [id, output, ENV])]);
  if (r.status !== "success") throw new Error("commitResult failed");
  await m.nextSlot();
  const [drawn] = await m.sendAll([m.market(keeper, "drawCommittee", [id])]);
  if (drawn.status !== "success") throw new Error("drawCommittee failed");
  return m.task(id);
}

/** The whole committee attests Accept; `keeper` settles. */
export async function settleAccepted(
  m: Market,
  providers: Provider[],
  id: bigint,
  keeper: number,
): Promise<Task> {
  const task = await m.task(id);
  const vote = m.vote(
    task,
    providers,
    task.committee.map((_, i) => i),
    Verdict.Accept,
  );
  const [r] = await m.sendAll([m.market(keeper, "settle", [id, task.round, [vote]])]);
  if (r.status !== "success") throw new Error("settle failed");
  return m.task(id);
}
