/**
 * A provider agent: the node-side half of a GPU provider (SPEC.md section 4). It follows the
 * chain's head and, for every task it can serve:
 *
 *   TaskSubmitted ─► commitBid (sealed: keccak(id, me, price, salt)) ─► revealBid after commitEnd
 *   ─► closeAuction after revealEnd (the best revealed bidder pokes; anyone after a grace period)
 *   TaskAssigned(me) ─► fetch model + input ─► run ONNX ─► put output bytes in the blob store
 *   ─► commitResult(sha256 of canonical output, environment fingerprint) ─► drawCommittee next block
 *   CommitteeDrawn(me ∈ committee) ─► fetch output, re-execute, compare by the task's policy
 *   ─► sign and publish an attestation ─► the first quorum signer aggregates and sends settle
 *
 * It never trusts its memory over the chain: logs only say which tasks to look at, every decision
 * reads the task's current state through the contracts' views, so reorgs and restarts are safe
 * (sealed bids, price and salt, are kept in `stateDir` so a restart between commit and reveal keeps them).
 *
 * Jobs are timed by stage into the node's metrics (agent/metrics.ts): executions, verifications
 * by verdict, settlements sent, and their durations.
 *
 * `behaviour` injects faults for tests and devnets: "perturb" scales its outputs by 1.05 (a
 * dishonest executor), "silent" never commits results (a provider that fails its deadline),
 * "lazy" attests the executor's claim without re-executing (a lazy committee member).
 */

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { SecretKey } from "@chainsafe/blst";
import type { Block } from "@ethereumjs/block";
import { bytesToHex, hexToBytes } from "@ethereumjs/util";
import { decodeEventLog, type Hex } from "viem";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../../precompiles/addresses.ts";
import { COMPUTE_PARAMS, hasQuorum } from "../../../precompiles/params.ts";
import {
  PROVIDER_REGISTRY_ABI,
  ProviderStatus,
  popMessage,
} from "../../../precompiles/provider-registry/index.ts";
import {
  bidCommitment,
  NO_OUTPUT,
  TASK_MARKET_ABI,
  type Task,
  TaskState,
  Verdict,
} from "../../../precompiles/task-market/index.ts";
import type { Blockchain } from "../../execution/chain/blockchain.ts";
import type { TxPool } from "../../execution/txpool/pool.ts";
import { errorMessage } from "../../utils/errors.ts";
import type { Logger } from "../../utils/logger.ts";
import type { BlobService } from "../blobs.ts";
import type { ComputeChainView } from "../chain-view.ts";
import { signAttestation } from "../committee/attestations.ts";
import type { ComputeAttestations } from "../committee/service.ts";
import {
  compare,
  type ExecutionProfile,
  fingerprintHash,
  isClientFault,
  type ModelRef,
  type ModelStore,
  type OnnxRunner,
  policyFromOnChain,
} from "../runtime/index.ts";
import {
  type CanonicalTensor,
  decodeCanonical,
  encodeCanonical,
  sha256Hex,
  tensorFromValues,
  tensorValues,
} from "../runtime/tensor.ts";
import type { ValidatorProofSource } from "../validator-proof.ts";
import { type ComputeAgentMetrics, JobTimer } from "./metrics.ts";
import { TxSender } from "./tx-sender.ts";

export type ProviderBehaviour = "honest" | "perturb" | "silent" | "lazy";

export interface ProviderAgentOptions {
  /** The provider's execution-layer account key (pays gas, receives payments). */
  privateKey: Hex;
  /** The provider's BLS secret key (32 bytes): signs attestations. */
  blsSecretKey: Uint8Array;
  /** Asking price per task, in wei: the agent bids this when a task's max price allows it. */
  price: bigint;
  /** Models served (sha256); undefined serves every registered model. */
  models?: Hex[];
  /** Tasks executed at once (default 3, DEFAULT_CAPACITY). */
  capacity?: number;
  /** Registers the provider with this stake at start when it is not registered yet. */
  stake?: bigint;
  /** GPU description for registration. */
  gpu?: { device: string; memoryMiB: bigint; executionProvider: string };
  peerId?: string;
  profile?: Partial<ExecutionProfile>;
  behaviour?: ProviderBehaviour;
  /**
   * Directory keeping this agent's sealed bids (price and salt) across restarts, so a bid
   * committed before a restart can still be revealed. Without it bids live in memory only.
   */
  stateDir?: string;
}

export interface ProviderAgentModules {
  chain: Blockchain;
  pool: TxPool;
  view: ComputeChainView;
  blobs: BlobService;
  runner: OnnxRunner;
  models: ModelStore;
  attestations: ComputeAttestations;
  /** Seconds per slot: the next block's timestamp is at least head + this. */
  slotSeconds: number;
  /** Proofs that the agent's BLS key is a beacon validator (its node's consensus layer), if any. */
  validatorProofs?: ValidatorProofSource;
  logger: Logger;
  metrics?: ComputeAgentMetrics;
}

interface Bid {
  price: bigint;
  salt: Hex;
  revealed: boolean;
}

const MARKET = SYSTEM_CONTRACT_ADDRESSES.taskMarket as Hex;
const REGISTRY = SYSTEM_CONTRACT_ADDRESSES.providerRegistry as Hex;
const TERMINAL = new Set<number>([TaskState.Settled, TaskState.Failed, TaskState.Cancelled]);
/** Slots after a phase ends before any participant (not just the designated one) pokes. */
const GRACE_SLOTS = 2n;
/**
 * Tasks an agent executes at once by default. Several keep the model busy: while one task's model
 * runs (on the runner's worker thread once several runs are under way), the main thread reads
 * the next one's input and hashes and stores the last one's output, and the worker finds the
 * next run queued when it finishes one. bench:compute on this 2-core host: detector 0.92-0.95 of
 * raw onnxruntime with one task at a time, 1.0-1.05 with two; the 1 ms classifier 0.89-0.94
 * with two, 0.95-0.97 with three or four.
 */
export const DEFAULT_CAPACITY = 3;

const VERDICT_NAMES: Record<number, string> = { 1: "accept", 2: "reject", 3: "invalid-task" };
const VERDICT_LABELS = { 1: "accept", 2: "reject", 3: "invalid_task" } as const;
const verdictLabel = (v: number) => VERDICT_LABELS[v as 1 | 2 | 3] ?? "reject";

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export class ProviderAgent {
  readonly address: Hex;
  private readonly opts: ProviderAgentOptions;
  private readonly m: ProviderAgentModules;
  private readonly sender: TxSender;
  private readonly bls: SecretKey;
  private readonly logger: Logger;
  private readonly tracked = new Set<bigint>();
  private readonly bids = new Map<bigint, Bid>();
  /** Jobs (execute / verify) in progress or done, by `${kind}:${id}:${round}`. */
  private readonly jobs = new Map<string, Promise<void>>();
  /** Actions already sent, by `${action}:${id}:${round}` → head number when sent. */
  private readonly sent = new Map<string, { hash: Hex; at: bigint }>();
  /** Jobs that have finished (successfully or not). */
  private readonly finished = new Set<string>();
  /** First head timestamp a settle quorum was seen, by `${id}:${round}`. */
  private readonly quorumSince = new Map<string, bigint>();
  /** Block number at which we first saw a task Executed (committee draw needs a later block). */
  private readonly executedSeen = new Map<string, bigint>();
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private chainId = 0n;
  /** Head number of the last validator-proof attempt. */
  private proofTriedAt: bigint | undefined;

  constructor(opts: ProviderAgentOptions, modules: ProviderAgentModules) {
    this.opts = opts;
    this.m = modules;
    this.sender = new TxSender(opts.privateKey, { chain: modules.chain, pool: modules.pool });
    this.address = this.sender.address.toString() as Hex;
    this.bls = SecretKey.fromBytes(opts.blsSecretKey);
    this.logger = modules.logger.child({ module: "provider", provider: this.address });
  }

  get behaviour(): ProviderBehaviour {
    return this.opts.behaviour ?? "honest";
  }

  async start(): Promise<void> {
    this.chainId = this.m.chain.config.chainId;
    this.loadBids();
    // Tasks still open from before a (re)start.
    const count = await this.m.view.taskCount();
    for (let id = count > 256n ? count - 255n : 1n; id <= count; id++) this.tracked.add(id);
    this.unsubscribe = this.m.chain.on("head", (e) => {
      this.ingest(e.change.added);
      this.poke();
    });
    this.logger.info(
      { behaviour: this.behaviour, price: this.opts.price.toString() },
      "Provider agent started",
    );
    this.poke();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await this.running;
    await Promise.allSettled(this.jobs.values());
  }

  /** Resolves when the current round of work (if any) is done: tests wait on it. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
    await Promise.allSettled(this.jobs.values());
  }

  /** Runs a pass now (or right after the one in progress). */
  poke(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch (err) {
          this.logger.warn({ err: errorMessage(err) }, "Provider agent pass failed");
        }
      } while (this.again && !this.stopped);
      this.running = undefined;
    })();
  }

  /** Reads the task market's logs of newly added blocks: which tasks to look at, inline inputs. */
  private ingest(blocks: readonly Block[]): void {
    for (const block of blocks) {
      const receipts = this.m.chain.store.getReceipts(block.hash()) ?? [];
      for (const receipt of receipts) {
        for (const [address, topics, data] of receipt.logs) {
          if (bytesToHex(address) !== MARKET.toLowerCase()) continue;
          try {
            const event = decodeEventLog({
              abi: TASK_MARKET_ABI,
              topics: topics.map((t) => bytesToHex(t) as Hex) as [Hex, ...Hex[]],
              data: bytesToHex(data) as Hex,
            });
            const id = (event.args as { taskId?: bigint }).taskId;
            if (id !== undefined) this.tracked.add(id);
            if (event.eventName === "TaskSubmitted" && event.args.input !== "0x") {
              // Inline inputs go to the blob store: this node serves them by hash from now on.
              const input = Uint8Array.from(Buffer.from(event.args.input.slice(2), "hex"));
              if (sha256Hex(input) === event.args.inputHash.toLowerCase())
                void this.m.blobs.put(input).catch(() => {});
            }
          } catch {
            // not one of the market's events
          }
        }
      }
    }
  }

  private bidsFile(): string | undefined {
    return this.opts.stateDir === undefined
      ? undefined
      : join(this.opts.stateDir, `bids-${this.address}.json`);
  }

  /** Sealed bids from before a restart (their reveal state is read back from the chain). */
  private loadBids(): void {
    const file = this.bidsFile();
    if (file === undefined || !existsSync(file)) return;
    try {
      const saved = JSON.parse(readFileSync(file, "utf8")) as Record<string, { price: string; salt: Hex }>;
      for (const [id, b] of Object.entries(saved)) {
        this.bids.set(BigInt(id), { price: BigInt(b.price), salt: b.salt, revealed: false });
        this.tracked.add(BigInt(id));
      }
    } catch (err) {
      this.logger.warn({ file, err: errorMessage(err) }, "Could not read saved sealed bids: ignoring them");
    }
  }

  /** Writes the sealed bids atomically (temporary file, then rename). */
  private saveBids(): void {
    const file = this.bidsFile();
    if (file === undefined) return;
    const saved: Record<string, { price: string; salt: Hex }> = {};
    for (const [id, b] of this.bids) saved[id.toString()] = { price: b.price.toString(), salt: b.salt };
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(`${file}.tmp`, JSON.stringify(saved), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.logger.warn({ file, err: errorMessage(err) }, "Could not save sealed bids");
    }
  }

  /**
   * A provider whose BLS key is also a validator's proves it on chain (the validator bonus),
   * again when half of the proof's time to live has passed; tried at most every 32 blocks.
   */
  private async maybeProveValidator(): Promise<void> {
    const source = this.m.validatorProofs;
    if (source === undefined) return;
    const head = this.m.chain.head.header;
    if (this.proofTriedAt !== undefined && head.number < this.proofTriedAt + 32n) return;
    this.proofTriedAt = head.number;
    const [, provenAt] = await this.m.view.read(REGISTRY, PROVIDER_REGISTRY_ABI, "validatorOf", [
      this.address,
    ]);
    if (provenAt !== 0n && head.timestamp - provenAt < COMPUTE_PARAMS.validatorProofTtl / 2n) return;
    const proof = await source.prove(this.bls.toPublicKey().toBytes());
    if (proof === undefined) return;
    await this.act(`prove:${provenAt}`, () =>
      this.sender.send(REGISTRY, PROVIDER_REGISTRY_ABI, "proveValidator", [
        proof.beaconTimestamp,
        proof.validatorIndex,
        proof.validator,
        proof.branch,
      ]),
    );
    this.logger.info(
      { validatorIndex: proof.validatorIndex.toString() },
      "Proved this provider's validator key",
    );
  }

  /** Drops everything kept about a closed task. */
  private forget(id: bigint): void {
    this.tracked.delete(id);
    if (this.bids.delete(id)) this.saveBids();
    this.m.attestations.prune(id);
    const tag = String(id);
    for (const key of [...this.sent.keys()]) if (key.split(":")[1] === tag) this.sent.delete(key);
    for (const key of [...this.jobs.keys()])
      if (key.split(":")[1] === tag && this.finished.has(key)) {
        this.jobs.delete(key);
        this.finished.delete(key);
      }
    for (const key of [...this.executedSeen.keys()])
      if (key.split(":")[0] === tag) this.executedSeen.delete(key);
    for (const key of [...this.quorumSince.keys()])
      if (key.split(":")[0] === tag) this.quorumSince.delete(key);
  }

  private async pass(): Promise<void> {
    const status = await this.ensureRegistered();
    if (status === undefined) return;
    await this.maybeProveValidator().catch((err: unknown) =>
      this.logger.debug({ err: errorMessage(err) }, "Validator proof not sent"),
    );
    const head = this.m.chain.head.header;
    for (const id of [...this.tracked]) {
      let task: Task;
      try {
        task = await this.m.view.task(id);
      } catch {
        this.tracked.delete(id);
        continue;
      }
      if (TERMINAL.has(task.state)) {
        this.forget(id);
        continue;
      }
      await this.step(task, head.number, head.timestamp, status).catch((err: unknown) =>
        this.logger.debug({ task: id.toString(), err: errorMessage(err) }, "Task step failed"),
      );
    }
  }

  /** Registration status; registers first when asked to and not registered. */
  private async ensureRegistered(): Promise<number | undefined> {
    let status: number = ProviderStatus.None;
    try {
      status = (await this.m.view.provider(this.address)).status;
    } catch {
      status = ProviderStatus.None;
    }
    if (status !== ProviderStatus.None) return status;
    if (this.opts.stake === undefined || this.isSent("register")) return undefined;
    const pubkey = this.bls.toPublicKey().toBytes();
    const pop = this.bls.sign(popMessage(this.chainId, this.address, pubkey)).toBytes();
    await this.act("register", () =>
      this.sender.send(
        REGISTRY,
        PROVIDER_REGISTRY_ABI,
        "register",
        [
          bytesToHex(pubkey),
          bytesToHex(pop),
          this.opts.gpu ?? { device: "cpu", memoryMiB: 0n, executionProvider: "cpu" },
          this.opts.models ?? [],
          this.opts.price,
          this.opts.peerId ?? "",
        ],
        this.opts.stake,
      ),
    );
    return undefined;
  }

  /** Sends an action once (per key); failures are logged and retried on a later head. */
  /**
   * Whether action `key` was sent and its transaction is still alive: in the pool, or mined.
   * A transaction the pool dropped (replaced, evicted, left out by the builder) is forgotten so
   * the action is sent again.
   */
  private isSent(key: string): boolean {
    const entry = this.sent.get(key);
    if (entry === undefined) return false;
    if (this.m.pool.get(entry.hash) !== undefined) return true;
    if (this.m.chain.store.getTransaction(hexToBytes(entry.hash)) !== undefined) return true;
    this.sent.delete(key);
    this.logger.debug({ action: key, tx: entry.hash }, "Transaction dropped: sending again");
    return false;
  }

  private async act(key: string, send: () => Promise<Hex>): Promise<void> {
    if (this.isSent(key)) return;
    try {
      const hash = await send();
      this.sent.set(key, { hash, at: this.m.chain.head.header.number });
      this.logger.debug({ action: key, tx: hash }, "Sent");
    } catch (err) {
      this.logger.debug({ action: key, err: errorMessage(err) }, "Action not sent");
    }
  }

  private serves(model: Hex): boolean {
    return this.opts.models === undefined || this.opts.models.some((m) => same(m, model));
  }

  private activeJobs(): number {
    let n = 0;
    for (const key of this.jobs.keys())
      if (key.startsWith("execute:") && !this.isSent(`result:${key.slice(8)}`)) n++;
    return n;
  }

  private async step(task: Task, headNumber: bigint, now: bigint, status: number): Promise<void> {
    const id = task.id;
    const next = now + BigInt(this.m.slotSeconds);
    const me = this.address;
    const round = task.round;
    switch (task.state) {
      case TaskState.Open:
      case TaskState.Bidding: {
        const bid = this.bids.get(id);
        if (bid === undefined) {
          if (status !== ProviderStatus.Active || next >= task.commitEnd || same(task.client, me)) return;
          if (!this.serves(task.model) || this.opts.price > task.maxPrice) return;
          if (this.activeJobs() >= (this.opts.capacity ?? DEFAULT_CAPACITY)) return;
          const salt = bytesToHex(randomBytes(32)) as Hex;
          this.bids.set(id, { price: this.opts.price, salt, revealed: false });
          this.saveBids();
          await this.act(`bid:${id}`, () =>
            this.sender.send(MARKET, TASK_MARKET_ABI, "commitBid", [
              id,
              bidCommitment(id, me, this.opts.price, salt),
            ]),
          );
          // Fetch the model early: execution and verification need it.
          void this.m.models.fetch(task.model, this.m.blobs).catch(() => {});
          return;
        }
        if (now < task.commitEnd) {
          // The sealed bid's transaction was lost (dropped from the pool): send it again.
          if (next < task.commitEnd && !this.isSent(`bid:${id}`))
            await this.act(`bid:${id}`, () =>
              this.sender.send(MARKET, TASK_MARKET_ABI, "commitBid", [
                id,
                bidCommitment(id, me, bid.price, bid.salt),
              ]),
            );
          return;
        }
        if (!bid.revealed && now >= task.commitEnd && next < task.revealEnd) {
          // After a restart the memory of a reveal is gone: the chain knows.
          const onChain = (await this.m.view.bids(id)).find((b) => same(b.provider, me));
          if (onChain === undefined) return;
          if (onChain.revealed) {
            bid.revealed = true;
            return;
          }
          await this.act(`reveal:${id}`, () =>
            this.sender.send(MARKET, TASK_MARKET_ABI, "revealBid", [id, bid.price, bid.salt]),
          );
          bid.revealed = this.isSent(`reveal:${id}`);
          return;
        }
        if (now >= task.revealEnd) {
          const bids = await this.m.view.bids(id);
          const best = bids
            .filter((b) => b.revealed && !b.excluded)
            .sort((a, b) =>
              a.price < b.price ? -1 : a.price > b.price ? 1 : Number(a.committedAt - b.committedAt),
            )[0];
          const mine = best !== undefined && same(best.provider, me);
          if (mine || now >= task.revealEnd + GRACE_SLOTS * BigInt(this.m.slotSeconds))
            await this.act(`close:${id}`, () =>
              this.sender.send(MARKET, TASK_MARKET_ABI, "closeAuction", [id]),
            );
        }
        return;
      }
      case TaskState.Assigned:
      case TaskState.Reassigned: {
        if (same(task.provider, me)) {
          if (this.behaviour === "silent") return;
          const job = `execute:${id}:${round}`;
          // Executed, but the commitment transaction was lost: run it again.
          if (this.finished.has(job) && !this.isSent(`result:${id}:${round}`)) {
            this.jobs.delete(job);
            this.finished.delete(job);
          }
          this.job(job, () => this.execute(task));
          return;
        }
        // Someone else's assignment: past its deadline, a bidder (the next in line benefits) pokes.
        if (this.bids.has(id) && now > task.executionDeadline)
          await this.act(`timeout:${id}:${round}`, () =>
            this.sender.send(MARKET, TASK_MARKET_ABI, "timeout", [id]),
          );
        return;
      }
      case TaskState.Executed: {
        if (same(task.provider, me)) this.job(`output:${id}:${round}`, () => this.ensureOutput(task));
        const key = `${id}:${round}`;
        const seen = this.executedSeen.get(key);
        if (seen === undefined) {
          this.executedSeen.set(key, headNumber);
          return;
        }
        // The executor wants its committee; anyone may draw it after a grace period.
        const grace = headNumber > seen + GRACE_SLOTS;
        if ((same(task.provider, me) && headNumber > seen) || grace)
          await this.act(`draw:${id}:${round}`, () =>
            this.sender.send(MARKET, TASK_MARKET_ABI, "drawCommittee", [id]),
          );
        return;
      }
      case TaskState.Verifying: {
        if (same(task.provider, me)) this.job(`output:${id}:${round}`, () => this.ensureOutput(task));
        const index = task.committee.findIndex((m) => same(m, me));
        if (index >= 0 && !this.m.attestations.has(id, round, me))
          this.job(`verify:${id}:${round}`, () => this.verify(task));
        if (index >= 0) await this.maybeSettle(task, index, now);
        if (now > task.verifyDeadline && (same(task.provider, me) || index >= 0))
          await this.act(`vtimeout:${id}:${round}`, () =>
            this.sender.send(MARKET, TASK_MARKET_ABI, "timeout", [id]),
          );
        return;
      }
      default:
        return;
    }
  }

  private job(key: string, run: () => Promise<void>): void {
    if (this.jobs.has(key)) return;
    const done = run()
      .then(
        () => {
          this.finished.add(key);
        },
        (err: unknown) => {
          this.logger.warn({ job: key, err: errorMessage(err) }, "Job failed");
          // Let a later pass try again.
          setTimeout(() => this.jobs.delete(key), 1000).unref();
        },
      )
      .finally(() => this.poke());
    this.jobs.set(key, done);
  }

  /** Runs the task's model on its input with this agent's profile (stages `model`, `input`, `run`). */
  private run(task: Task, timer: JobTimer): Promise<{ outputs: CanonicalTensor[]; environment: Hex }> {
    return runTaskModel(this.m, task.model, task.inputHash, this.opts.profile, timer);
  }

  private async execute(task: Task): Promise<void> {
    const timer = new JobTimer();
    let commitment: Hex = NO_OUTPUT;
    let environment = fingerprintHash(await this.m.runner.environmentFingerprint(this.opts.profile));
    try {
      const result = await executeTask(this.m, task.model, task.inputHash, this.opts.profile, {
        timer,
        perturb: this.behaviour === "perturb",
      });
      environment = result.environment;
      commitment = result.commitment;
      // On disk (served to the committee) before it is committed.
      await this.m.blobs.persisted(commitment);
    } catch (err) {
      // A task that cannot run (model does not load, input does not match its spec) is reported
      // as such: the committee checks the claim. Anything else is our problem: retry later.
      if (!isClientFault(err)) {
        this.m.metrics?.onExecution("failed");
        throw err;
      }
      this.logger.info({ task: task.id.toString(), err: errorMessage(err) }, "Task cannot run: reporting it");
    }
    const key = `result:${task.id}:${task.round}`;
    await this.act(key, () =>
      this.sender.send(MARKET, TASK_MARKET_ABI, "commitResult", [task.id, commitment, environment]),
    );
    timer.lap("commit");
    this.m.metrics?.onExecution(
      !this.isSent(key) ? "failed" : commitment === NO_OUTPUT ? "invalid_task" : "committed",
    );
    // Not sent (e.g. the node's pool refused it): fail the job so a later pass runs it again.
    if (!this.isSent(key)) throw new Error(`commitResult for task ${task.id} was not sent`);
    timer.report(this.m.metrics, "execute");
    this.logger.info(
      {
        task: task.id.toString(),
        round: task.round,
        commitment,
        ms: Math.round(timer.ms),
      },
      "Executed task",
    );
  }

  /**
   * The executor's committed output, served to the committee until the task settles. Outputs are
   * stored without a flush to disk (`executeTask`): if a crash lost the file, or left it
   * incomplete, the task is run again here and must give the committed bytes (a deterministic
   * profile does). Checked once per round and process.
   */
  private async ensureOutput(task: Task): Promise<void> {
    const commitment = task.outputCommitment.toLowerCase() as Hex;
    if (commitment === NO_OUTPUT || (await this.m.blobs.verify(commitment))) return;
    this.logger.warn(
      { task: task.id.toString(), commitment },
      "Committed output missing here: computing it again",
    );
    const result = await executeTask(this.m, task.model, task.inputHash, this.opts.profile, {
      perturb: this.behaviour === "perturb",
    });
    if (result.commitment !== commitment) {
      this.logger.error(
        { task: task.id.toString(), commitment, computed: result.commitment },
        "The committed output could not be computed again (the profile is not reproducible here)",
      );
      return;
    }
    await this.m.blobs.persisted(commitment);
    this.logger.info({ task: task.id.toString(), commitment }, "Committed output restored");
  }

  private async verify(task: Task): Promise<void> {
    try {
      await this.verifyOnce(task);
    } catch (err) {
      this.m.metrics?.onVerification("failed");
      throw err;
    }
  }

  private async verifyOnce(task: Task): Promise<void> {
    const timer = new JobTimer();
    let verdict: Verdict;
    if (this.behaviour === "lazy") {
      // Agrees with whatever the executor claims, without running anything.
      verdict = task.outputCommitment === NO_OUTPUT ? Verdict.InvalidTask : Verdict.Accept;
    } else {
      let reference: CanonicalTensor[] | undefined;
      try {
        reference = (await this.run(task, timer)).outputs;
      } catch (err) {
        if (!isClientFault(err)) throw err;
        reference = undefined;
      }
      if (reference === undefined) verdict = Verdict.InvalidTask;
      else if (task.outputCommitment === NO_OUTPUT) verdict = Verdict.Reject;
      else {
        let candidate: CanonicalTensor[] | undefined;
        try {
          candidate = decodeCanonical(await this.m.blobs.get(task.outputCommitment.toLowerCase() as Hex), {
            copy: false,
          });
        } catch (err) {
          // Not published (yet): try again on a later pass while the verification window lasts.
          if (this.m.chain.head.header.timestamp + BigInt(4 * this.m.slotSeconds) < task.verifyDeadline)
            throw err;
          candidate = undefined;
        }
        timer.lap("fetch");
        const result =
          candidate === undefined ? undefined : compare(policyFromOnChain(task.policy), reference, candidate);
        timer.lap("compare");
        verdict = result?.ok === true ? Verdict.Accept : Verdict.Reject;
        if (result !== undefined && !result.ok)
          this.logger.info({ task: task.id.toString(), reason: result.reason }, "Result rejected");
      }
    }
    const attestation = signAttestation(this.chainId, task, verdict, this.address, (m) =>
      this.bls.sign(m).toBytes(),
    );
    await this.m.attestations.publish(attestation);
    timer.lap("attest");
    this.m.metrics?.onVerification(verdictLabel(verdict));
    timer.report(this.m.metrics, "verify");
    this.logger.info(
      {
        task: task.id.toString(),
        round: task.round,
        verdict: VERDICT_NAMES[verdict],
        ms: Math.round(timer.ms),
      },
      "Verified task",
    );
  }

  /**
   * Sends `settle` when a verdict has the quorum: once every member attested, or a couple of
   * slots after the quorum was first seen (late dissenters are then left out). The member with
   * the lowest committee index among the quorum's signers sends it; any member after a grace
   * period.
   */
  private async maybeSettle(task: Task, myIndex: number, now: bigint): Promise<void> {
    const timer = new JobTimer();
    const votes = this.m.attestations.votes(task);
    if (votes.length === 0) return;
    const stakes = await Promise.all(task.committee.map(async (m) => (await this.m.view.provider(m)).stake));
    const total = stakes.reduce((a, b) => a + b, 0n);
    const weight = (signers: bigint) =>
      stakes.reduce((sum, s, i) => (((signers >> BigInt(i)) & 1n) === 1n ? sum + s : sum), 0n);
    const quorum = votes.find((v) => hasQuorum(weight(v.signers), total));
    if (quorum === undefined) return;
    const key = `${task.id}:${task.round}`;
    const since = this.quorumSince.get(key) ?? now;
    this.quorumSince.set(key, since);
    const all = this.m.attestations.count(task.id, task.round) === task.committee.length;
    const slot = BigInt(this.m.slotSeconds);
    if (!all && now < since + GRACE_SLOTS * slot) return;
    let first = 0;
    while (((quorum.signers >> BigInt(first)) & 1n) === 0n) first++;
    if (first !== myIndex && now < since + 2n * GRACE_SLOTS * slot) return;
    const action = `settle:${key}`;
    if (this.isSent(action)) return;
    timer.lap("votes");
    await this.act(action, () =>
      this.sender.send(MARKET, TASK_MARKET_ABI, "settle", [
        task.id,
        task.round,
        votes.map((v) => ({ ...v, verdict: v.verdict })),
      ]),
    );
    if (!this.isSent(action)) return;
    timer.lap("send");
    this.m.metrics?.onSettlementSent(verdictLabel(quorum.verdict));
    timer.report(this.m.metrics, "settle");
  }
}

/** What running a task needs: a compute layer's blob store, model store and runner. */
export interface TaskRuntime {
  blobs: BlobService;
  models: ModelStore;
  runner: OnnxRunner;
}

/**
 * Runs a task's model on its input: the model from the model store (fetched from peers when
 * missing), the input from the blob store (decoded), the ONNX run under `profile`. Times the
 * stages `model`, `input` and `run` into `timer`. Returns the outputs and the environment hash.
 */
export async function runTaskModel(
  rt: TaskRuntime,
  model: Hex,
  inputHash: Hex,
  profile: Partial<ExecutionProfile> | undefined,
  timer?: JobTimer,
): Promise<{ outputs: CanonicalTensor[]; environment: Hex }> {
  const sha256 = model.toLowerCase() as Hex;
  // A cached session needs no model bytes: the store is read (and the model fetched) otherwise.
  const ref: ModelRef = { sha256, load: () => rt.models.fetch(sha256, rt.blobs) };
  const bytes = rt.runner.hasSession(sha256, profile) ? ref : await ref.load();
  timer?.lap("model");
  // Views of the stored bytes (never modified): no copy of the input here.
  const inputs = decodeCanonical(await rt.blobs.get(inputHash.toLowerCase() as Hex), { copy: false });
  timer?.lap("input");
  const result = await rt.runner.run(bytes, inputs, profile);
  timer?.lap("run");
  return { outputs: result.outputs, environment: fingerprintHash(result.environment) };
}

/**
 * An executor's work on a task, chain transactions aside: `runTaskModel`, then the outputs in
 * their canonical encoding staged in the blob store (readable here at once, on disk once
 * `blobs.persisted(commitment)` resolves, which the caller awaits before committing). Stage
 * `output` is the encoding and staging. `perturb` scales float outputs by 1.05 (a dishonest
 * executor, for tests). Throws what `runTaskModel` throws (client faults: the task cannot run).
 */
export async function executeTask(
  rt: TaskRuntime,
  model: Hex,
  inputHash: Hex,
  profile: Partial<ExecutionProfile> | undefined,
  opts: { timer?: JobTimer; perturb?: boolean } = {},
): Promise<{ commitment: Hex; environment: Hex; outputs: CanonicalTensor[] }> {
  const result = await runTaskModel(rt, model, inputHash, profile, opts.timer);
  const outputs = opts.perturb === true ? result.outputs.map(perturb) : result.outputs;
  // Outputs can be computed again: not flushed to disk (see the agent's `ensureOutput`).
  const commitment = rt.blobs.stage(encodeCanonical(outputs), { durable: false });
  opts.timer?.lap("output");
  return { commitment, environment: result.environment, outputs };
}

/** A dishonest executor's change: every float output scaled by 1.05. */
function perturb(t: CanonicalTensor): CanonicalTensor {
  if (t.dtype !== "float32" && t.dtype !== "float64") return t;
  const values = tensorValues(t) as Float32Array | Float64Array;
  const scaled = t.dtype === "float32" ? new Float32Array(values.length) : new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) scaled[i] = values[i] * 1.05;
  return tensorFromValues(t.name, t.dtype, t.dims, scaled);
}
