/**
 * Consensus-layer benchmark (`npm run bench:cl`).
 *
 * For each genesis validator count N (interop keys, 32 oGPU each, minimal preset, the devnet's
 * 2 s slots), in this one process and on a simulated clock (no waiting for slot times):
 *
 * 1. Node A holds all N validator keys. Before each slot, T simple transfers (to fresh
 *    addresses, signed by the devnet's dev accounts) reach A's pool as one JSON-RPC batch of
 *    `eth_sendRawTransaction`; A then performs the slot's duties (propose with a payload built
 *    by its EL, attest, sync committee messages), as the PoS dev chain does every slot.
 * 2. Node B, started from the same genesis with no validator keys, imports each of A's blocks
 *    right after A made it (`chain.importBlock`: state transition, BLS batch, its own EL
 *    executing the payload through newPayload, fork choice, DB, forkchoiceUpdated), its clock
 *    half a second into the block's slot. Each import is timed (p50/p95/max); blocks whose
 *    import crosses an epoch boundary are reported apart. The breakdown comes from B's
 *    Prometheus histograms (the chain's metrics sink): the growth of each `_sum` over one import
 *    is that import's state transition, signature batch and newPayload time; the rest (pre-state,
 *    unrealized checkpoints, fork choice, DB write, head update and forkchoiceUpdated) is the
 *    wall time minus those three.
 * 3. Finality: the first slot after which A's fork choice holds a finalized checkpoint past
 *    genesis, and the finality lag (head epoch minus finalized epoch) at every later slot.
 * 4. Epoch transition: on B's head state at the last slot of an epoch, `processSlots` to the next
 *    epoch's first slot, R times on fresh clones (`dontTransferCache`, so every repetition starts
 *    from the same state), p50.
 *
 * Targets (issue): full block import <= 1/3 of the slot; first finality <= 2 epochs + 1 slot
 * after genesis; steady-state finality lag 2 epochs. The nodes' temp datadirs are removed at
 * the end and on error.
 *
 * Flags: --validators LIST (comma-separated counts, default 64,1024) --slots S (slots run per
 *        count, default 47: first finality at slot 32 plus two epochs, ending on an epoch's last
 *        slot) --txs T (transfers per block, default 50) --epoch-reps R (default 7)
 * Env:   BENCH_LOG_LEVEL=info|debug writes the nodes' logs to stderr.
 */
import { mkdtempSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createCommonFromGethGenesis } from "@ethereumjs/common";
import { createFeeMarket1559Tx } from "@ethereumjs/tx";
import { bytesToHex, hexToBytes } from "@ethereumjs/util";
import type { Histogram, Registry } from "prom-client";
import { deriveDevAccounts, devnetDefinition, resolveGenesis, TEST_MNEMONIC } from "../../genesis/index.ts";
import type { GethGenesis } from "../../genesis/types.ts";
import type { GenesisValidator } from "../../node/consensus/genesis.ts";
import type { ConsensusLayer } from "../../node/consensus/index.ts";
import type { ValidatorKey } from "../../node/consensus/validator/validator.ts";
import type { Hex } from "../../node/execution/engine/types.ts";
import type { OpenGpuNode } from "../../node/node.ts";
import { removeAll, removeOnExit } from "./temp-dirs.ts";

// Lodestar fixes its preset when @lodestar/params first loads: everything that reaches it is
// imported dynamically below, after this line.
process.env.LODESTAR_PRESET ??= "minimal";
const { OpenGpuNode: Node } = await import("../../node/node.ts");
const { genesisValidatorsOf, interopKeys } = await import("../../node/consensus/genesis.ts");
const { processSlots } = await import("@lodestar/state-transition");
const { SLOTS_PER_EPOCH } = await import("@lodestar/params");
const { customCrypto } = await import("../../node/execution/crypto.ts");
const { createLogger, silentLogger } = await import("../../node/utils/logger.ts");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const VALIDATOR_COUNTS = arg("validators", "64,1024").split(",").map(Number);
const SLOTS = Number(arg("slots", "47"));
const TXS = Number(arg("txs", "50"));
const EPOCH_REPS = Number(arg("epoch-reps", "7"));
if (![SLOTS, EPOCH_REPS, ...VALIDATOR_COUNTS].every((n) => Number.isInteger(n) && n > 0))
  throw new Error("--slots, --epoch-reps and every --validators count must be positive integers");
if (!Number.isInteger(TXS) || TXS < 0) throw new Error("--txs must be a non-negative integer");

/** Fixed genesis time: committees and proposers are the same on every run. */
const GENESIS_TIME = 1_700_000_000;
/** When B sees a block: this far (ms) into its slot, as a block gossiped early in the slot. */
const ARRIVAL_MS = 500;

const log = (msg: string) => process.stdout.write(`[bench:cl] ${msg}\n`);
const logLevel = process.env.BENCH_LOG_LEVEL;
const nodeLogger = () =>
  logLevel === "info" || logLevel === "debug"
    ? createLogger({ level: logLevel, format: "text" })
    : silentLogger();

// --- statistics -------------------------------------------------------------------------------

/** Nearest-rank percentile (p in 0..100) of unsorted values. */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const max = (values: readonly number[]) => (values.length === 0 ? Number.NaN : Math.max(...values));
const ms = (v: number) => (Number.isNaN(v) ? "-" : `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms`);

// --- nodes ------------------------------------------------------------------------------------

interface BenchNode {
  node: OpenGpuNode;
  cl: ConsensusLayer;
  /** Sets the node's clock (unix ms). */
  setTime(ms: number): void;
}

/** Starts a node with the consensus layer on a clock the bench drives; slot duties run by hand. */
async function startNode(
  genesis: GethGenesis,
  validators: GenesisValidator[],
  keys: ValidatorKey[],
  feeRecipient: Hex,
): Promise<BenchNode> {
  const datadir = mkdtempSync(join(tmpdir(), "opengpu-bench-cl-"));
  removeOnExit(datadir);
  let now = GENESIS_TIME * 1000;
  const node = await Node.start(
    {
      datadir,
      genesis,
      rpc: {
        host: "127.0.0.1",
        httpPort: 0,
        wsPort: 0,
        bodyLimit: 5 * 1024 * 1024,
        batchLimit: 1000,
        corsOrigins: [],
        rateLimit: 0,
        debug: false,
        options: {},
      },
      consensus: {
        genesisValidators: validators,
        validatorKeys: keys,
        feeRecipient,
        now: () => now,
        autoStart: false,
      },
    },
    nodeLogger(),
  );
  if (node.consensus === undefined) throw new Error("node started without its consensus layer");
  return {
    node,
    cl: node.consensus,
    setTime(ms: number) {
      now = ms;
    },
  };
}

/**
 * Lets work a node deferred (pool updates after a new head, LevelDB writes) finish, so that one
 * node's leftovers do not run inside the other's timed section: both share this process.
 */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

/** Sends raw transactions as one JSON-RPC batch; throws on the first error. */
async function sendBatch(url: string, raws: readonly Hex[]): Promise<void> {
  const body = raws.map((raw, id) => ({
    jsonrpc: "2.0",
    id,
    method: "eth_sendRawTransaction",
    params: [raw],
  }));
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const results = (await response.json()) as { error?: { message: string } }[];
  const failed = results.find((r) => r.error !== undefined);
  if (failed?.error !== undefined) throw new Error(`eth_sendRawTransaction: ${failed.error.message}`);
}

/** The current `_sum` (seconds) of a histogram in a node's registry. */
async function histogramSum(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name) as Histogram | undefined;
  if (metric === undefined) throw new Error(`histogram ${name} not registered`);
  const { values } = await metric.get();
  return values.find((v) => v.metricName === `${name}_sum`)?.value ?? 0;
}

const BREAKDOWN = {
  stateTransition: "opengpu_beacon_state_transition_seconds",
  signatures: "opengpu_beacon_block_signatures_seconds",
  execution: "opengpu_beacon_execution_payload_seconds",
} as const;
type Part = keyof typeof BREAKDOWN;

async function breakdownSums(registry: Registry): Promise<Record<Part, number>> {
  return {
    stateTransition: await histogramSum(registry, BREAKDOWN.stateTransition),
    signatures: await histogramSum(registry, BREAKDOWN.signatures),
    execution: await histogramSum(registry, BREAKDOWN.execution),
  };
}

interface ImportSample {
  slot: number;
  totalMs: number;
  parts: Record<Part | "rest", number>;
  txs: number;
}

interface Result {
  validators: number;
  slotMs: number;
  setupSeconds: number;
  normal: ImportSample[];
  boundary: ImportSample[];
  /** Wall time of A's duties per slot (produce + own import + attestations + sync messages). */
  dutyMs: number[];
  firstFinalizedSlot: number | undefined;
  firstFinalizedEpoch: number | undefined;
  /** Head epoch minus finalized epoch at each slot from the first finalization on. */
  lags: number[];
  epochTransitionMs: number[];
  /** The import-only node ended on A's head and finalized checkpoint. */
  inSync: boolean;
}

async function run(count: number): Promise<Result> {
  const setupStarted = performance.now();
  const definition = devnetDefinition();
  definition.validators = { count, balance: "32", source: "community" };
  const genesis = resolveGenesis(definition, { now: GENESIS_TIME });
  // The devnet's prefunded dev accounts sign the transfers.
  const accounts = deriveDevAccounts(
    definition.devAccounts?.mnemonic ?? TEST_MNEMONIC,
    definition.devAccounts?.count ?? 10,
  );
  const secondsPerSlot = genesis.config.opengpu?.consensus?.secondsPerSlot ?? 2;
  const slotMs = secondsPerSlot * 1000;
  const slotStart = (slot: number) => (GENESIS_TIME + slot * secondsPerSlot) * 1000;
  // The validator set the genesis defines (interop keys withdrawing to the dev accounts), as the
  // node derives it; computed once and handed to both nodes.
  const validators = genesisValidatorsOf(genesis);
  const keys = interopKeys(validators);
  log(`N=${count}: ${count} interop keys in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);

  const nodes: BenchNode[] = [];
  try {
    let started = performance.now();
    const a = await startNode(genesis, validators, keys, accounts[0].address as Hex);
    nodes.push(a);
    log(
      `N=${count}: node A (all keys) started, beacon genesis built, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    started = performance.now();
    const b = await startNode(genesis, validators, [], accounts[0].address as Hex);
    nodes.push(b);
    log(`N=${count}: node B (no keys) started in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const setupSeconds = (performance.now() - setupStarted) / 1000;

    const rpcUrl = a.node.rpc.server.httpUrl;
    if (rpcUrl === undefined) throw new Error("node A serves no JSON-RPC over HTTP");
    const common = createCommonFromGethGenesis(genesis as never, { chain: "bench", customCrypto });
    const chainId = BigInt(genesis.config.chainId);
    const senderKeys = accounts.map((acc) => hexToBytes(acc.privateKey));
    const nonces = accounts.map(() => 0n);
    let recipients = 0;
    const transfers = (n: number): Hex[] =>
      Array.from({ length: n }, (_, i) => {
        const sender = i % accounts.length;
        const to = `0x${(0x100000 + recipients++).toString(16).padStart(40, "0")}` as Hex;
        const tx = createFeeMarket1559Tx(
          {
            chainId,
            nonce: nonces[sender]++,
            to,
            value: 1n,
            gasLimit: 21_000n,
            maxFeePerGas: 100_000_000_000n,
            maxPriorityFeePerGas: 1_000_000_000n,
          },
          { common },
        ).sign(senderKeys[sender]);
        return bytesToHex(tx.serialize()) as Hex;
      });

    const registry = b.node.metrics.registry;
    const normal: ImportSample[] = [];
    const boundary: ImportSample[] = [];
    const dutyMs: number[] = [];
    const lags: number[] = [];
    let firstFinalizedSlot: number | undefined;
    let firstFinalizedEpoch: number | undefined;
    let progressAt = performance.now();
    for (let slot = 1; slot <= SLOTS; slot++) {
      if (TXS > 0) await sendBatch(rpcUrl, transfers(TXS));

      // A: the slot's duties, at the aggregation deadline (2/3 of the slot) so none waits.
      await settle();
      a.setTime(slotStart(slot) + Math.ceil((2 * slotMs) / 3));
      const dutyStarted = performance.now();
      await a.cl.validator.onSlot(slot);
      dutyMs.push(performance.now() - dutyStarted);
      const head = a.cl.chain.head;
      if (head.slot !== slot) throw new Error(`node A made no block at slot ${slot} (head ${head.slot})`);
      const signed = a.cl.chain.getBlock(head.blockRoot);
      if (signed === undefined) throw new Error(`block ${head.blockRoot} not in node A's database`);

      const finalized = a.cl.chain.finalizedCheckpoint.epoch;
      if (finalized > 0 && firstFinalizedSlot === undefined) {
        firstFinalizedSlot = slot;
        firstFinalizedEpoch = finalized;
        log(`N=${count}: first finalized checkpoint (epoch ${finalized}) at slot ${slot}`);
      }
      if (firstFinalizedSlot !== undefined) lags.push(Math.floor(slot / SLOTS_PER_EPOCH) - finalized);

      // B: import the block, timed; the breakdown is the growth of B's histogram sums.
      await settle();
      b.setTime(slotStart(slot) + ARRIVAL_MS);
      const before = await breakdownSums(registry);
      const importStarted = performance.now();
      await b.cl.chain.importBlock(signed);
      const totalMs = performance.now() - importStarted;
      const after = await breakdownSums(registry);
      const part = (p: Part) => (after[p] - before[p]) * 1000;
      const sample: ImportSample = {
        slot,
        totalMs,
        parts: {
          stateTransition: part("stateTransition"),
          signatures: part("signatures"),
          execution: part("execution"),
          rest: totalMs - part("stateTransition") - part("signatures") - part("execution"),
        },
        txs: signed.message.body.executionPayload.transactions.length,
      };
      // The import runs the epoch transition when the parent is in an earlier epoch.
      (slot % SLOTS_PER_EPOCH === 0 ? boundary : normal).push(sample);

      if (slot % SLOTS_PER_EPOCH === 0 || slot === SLOTS || performance.now() - progressAt > 10_000) {
        progressAt = performance.now();
        log(
          `N=${count}: slot ${slot}/${SLOTS}: A duties ${ms(dutyMs[dutyMs.length - 1])}, ` +
            `B import ${ms(totalMs)} (${sample.txs} txs), finalized epoch ${finalized}`,
        );
      }
    }

    // Epoch transition on B's head state, advanced (untimed) to the last slot of its epoch.
    const headState = b.cl.chain.headState;
    const nextEpochStart = (Math.floor(headState.slot / SLOTS_PER_EPOCH) + 1) * SLOTS_PER_EPOCH;
    const base =
      headState.slot < nextEpochStart - 1
        ? processSlots(headState, nextEpochStart - 1, { dontTransferCache: true })
        : headState;
    const epochTransitionMs: number[] = [];
    for (let i = 0; i < EPOCH_REPS; i++) {
      const t = performance.now();
      const post = processSlots(base, nextEpochStart, { dontTransferCache: true });
      epochTransitionMs.push(performance.now() - t);
      if (post.slot !== nextEpochStart) throw new Error("processSlots did not reach the epoch start");
    }
    log(`N=${count}: epoch transition at slot ${nextEpochStart}: ${epochTransitionMs.map(ms).join(", ")}`);

    const inSync =
      b.cl.chain.head.blockRoot === a.cl.chain.head.blockRoot &&
      b.cl.chain.finalizedCheckpoint.epoch === a.cl.chain.finalizedCheckpoint.epoch &&
      b.node.el.chain.head.header.number === a.node.el.chain.head.header.number;
    return {
      validators: count,
      slotMs,
      setupSeconds,
      normal,
      boundary,
      dutyMs,
      firstFinalizedSlot,
      firstFinalizedEpoch,
      lags,
      epochTransitionMs,
      inSync,
    };
  } finally {
    for (const n of nodes) await n.node.stop();
    removeAll();
  }
}

// --- report -----------------------------------------------------------------------------------

function report(results: Result[], machine: string): void {
  const slotMs = results[0].slotMs;
  const budget = slotMs / 3;
  const targetFinalitySlot = 2 * SLOTS_PER_EPOCH + 1;
  const ratio = (v: number | undefined, target: number) =>
    v === undefined || Number.isNaN(v) ? "-" : (v / target).toFixed(2);
  const rows: [string, string[], string, string[]][] = [];
  const row = (label: string, values: (r: Result) => string, target = "", ratios?: (r: Result) => string) =>
    rows.push([label, results.map(values), target, ratios === undefined ? [] : results.map(ratios)]);
  const p = (samples: ImportSample[], key: Part | "rest" | "total", q: number) =>
    percentile(
      samples.map((s) => (key === "total" ? s.totalMs : s.parts[key])),
      q,
    );
  /** The slowest import, with its slot (the first block also pays for cold code paths). */
  const slowest = (samples: ImportSample[]) =>
    samples.reduce<ImportSample | undefined>(
      (a, s) => (a === undefined || s.totalMs > a.totalMs ? s : a),
      undefined,
    );
  const slowestCell = (samples: ImportSample[]) => {
    const s = slowest(samples);
    return s === undefined ? "-" : `${ms(s.totalMs)} @${s.slot}`;
  };

  row("block import CL+EL, p50", (r) => ms(p(r.normal, "total", 50)));
  row(
    "block import CL+EL, p95",
    (r) => ms(p(r.normal, "total", 95)),
    `<= ${ms(budget)}`,
    (r) => ratio(p(r.normal, "total", 95), budget),
  );
  row(
    "block import CL+EL, max @slot",
    (r) => slowestCell(r.normal),
    `<= ${ms(budget)}`,
    (r) => ratio(slowest(r.normal)?.totalMs, budget),
  );
  row("  state transition (no sigs), p50", (r) => ms(p(r.normal, "stateTransition", 50)));
  row("  BLS signatures (one batch), p50", (r) => ms(p(r.normal, "signatures", 50)));
  row("  EL newPayload, p50", (r) => ms(p(r.normal, "execution", 50)));
  row("  rest (fork choice, DB, head, fcU), p50", (r) => ms(p(r.normal, "rest", 50)));
  row(
    "epoch-boundary block import, p50",
    (r) => ms(p(r.boundary, "total", 50)),
    `<= ${ms(budget)}`,
    (r) => ratio(p(r.boundary, "total", 50), budget),
  );
  row(
    "epoch-boundary block import, max @slot",
    (r) => slowestCell(r.boundary),
    `<= ${ms(budget)}`,
    (r) => ratio(slowest(r.boundary)?.totalMs, budget),
  );
  row("  state transition incl. epoch, p50", (r) => ms(p(r.boundary, "stateTransition", 50)));
  row("  BLS signatures, p50", (r) => ms(p(r.boundary, "signatures", 50)));
  row("  EL newPayload, p50", (r) => ms(p(r.boundary, "execution", 50)));
  row("  rest, p50", (r) => ms(p(r.boundary, "rest", 50)));
  row(
    "epoch transition (processSlots), p50",
    (r) => ms(percentile(r.epochTransitionMs, 50)),
    `(in ${ms(budget)})`,
    (r) => ratio(percentile(r.epochTransitionMs, 50), budget),
  );
  row(
    "first finalized checkpoint, slot",
    (r) =>
      r.firstFinalizedSlot === undefined
        ? `> ${SLOTS}`
        : `${r.firstFinalizedSlot} (ep ${r.firstFinalizedEpoch})`,
    `<= ${targetFinalitySlot}`,
    (r) => ratio(r.firstFinalizedSlot, targetFinalitySlot),
  );
  row(
    "  seconds after genesis",
    (r) =>
      r.firstFinalizedSlot === undefined ? "-" : `${((r.firstFinalizedSlot * slotMs) / 1000).toFixed(0)} s`,
    `<= ${((targetFinalitySlot * slotMs) / 1000).toFixed(0)} s`,
    (r) => ratio(r.firstFinalizedSlot, targetFinalitySlot),
  );
  row(
    "finality lag from then on, max (epochs)",
    (r) => (r.lags.length === 0 ? "-" : `${max(r.lags)} (p50 ${percentile(r.lags, 50)})`),
    "<= 2",
    (r) => ratio(max(r.lags), 2),
  );
  row(
    "node A slot duties (wall), p50",
    (r) => ms(percentile(r.dutyMs, 50)),
    `< ${ms(slotMs)}`,
    (r) => ratio(percentile(r.dutyMs, 50), slotMs),
  );
  row(
    "node A slot duties (wall), max",
    (r) => ms(max(r.dutyMs)),
    `< ${ms(slotMs)}`,
    (r) => ratio(max(r.dutyMs), slotMs),
  );

  const line = (label: string, values: string[], target: string, ratios: string) =>
    `${label.padEnd(40)}${values.map((v) => v.padStart(14)).join("")}${target.padStart(12)}  ${ratios}\n`;
  process.stdout.write(`\n${machine}\n`);
  process.stdout.write(
    line(
      "",
      results.map((r) => `N=${r.validators}`),
      "target",
      `ratio (${results.map((r) => `N=${r.validators}`).join(" / ")})`,
    ),
  );
  for (const [label, values, target, ratios] of rows)
    process.stdout.write(line(label, values, target, ratios.join(" / ")));

  const notes = [
    ...results.map((r) => {
      const all = [...r.normal, ...r.boundary];
      const txs = all.reduce((sum, s) => sum + s.txs, 0) / Math.max(1, all.length);
      return (
        `N=${r.validators}: ${all.length} blocks imported (${r.boundary.length} across an epoch boundary), ` +
        `${txs.toFixed(0)} transfers per block; setup (keys, two beacon genesis states, two nodes) ` +
        `${r.setupSeconds.toFixed(1)} s`
      );
    }),
    `import budget: 1/3 of a ${slotMs} ms slot. The epoch transition has no target of its own: it runs ` +
      "inside the epoch-boundary block's import, so it is shown against that budget.",
    `Finality: the target (2 epochs + 1 slot = slot ${targetFinalitySlot}) is below what the spec allows. ` +
      "process_justification_and_finalization does nothing while current_epoch <= GENESIS_EPOCH + 1, so " +
      "with full participation the first justification happens in the transition into epoch 3 and the " +
      `first finalization in the transition into epoch 4: slot ${4 * SLOTS_PER_EPOCH} ` +
      `(${(4 * SLOTS_PER_EPOCH * slotMs) / 1000} s) at the earliest. From then on finality trails the head ` +
      "by 2 epochs.",
    ...results
      .filter((r) => !r.inSync)
      .map((r) => `WARNING: N=${r.validators}: node B did not end on node A's head and finalized checkpoint`),
  ];
  process.stdout.write(`\n${notes.join("\n")}\n`);
}

async function main(): Promise<void> {
  const cpuList = cpus();
  const machine =
    `machine: ${cpuList[0]?.model ?? "unknown CPU"}, ${cpuList.length} cores; Node ${process.version}; ` +
    `preset ${process.env.LODESTAR_PRESET}, ${SLOTS_PER_EPOCH} slots per epoch`;
  log(machine);
  // Both nodes share this process with whatever else runs: a busy machine inflates every figure.
  log(`load average (1 min) before the run: ${loadavg()[0].toFixed(2)}`);
  log(
    `validators ${VALIDATOR_COUNTS.join(", ")}; ${SLOTS} slots each; ${TXS} transfers per block; ` +
      `${EPOCH_REPS} epoch-transition repetitions`,
  );
  const started = performance.now();
  const results: Result[] = [];
  for (const count of VALIDATOR_COUNTS) results.push(await run(count));
  report(results, `${machine}; load average (1 min) after the run ${loadavg()[0].toFixed(2)}`);
  log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

await main();
process.exit(0);
