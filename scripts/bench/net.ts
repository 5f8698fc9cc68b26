/**
 * Network benchmark (`npm run bench:net`).
 *
 * Starts a local devnet (`startDevnet`: N `opengpu node` processes on 127.0.0.1, the interop
 * validators split among them, a full mesh, 2 s slots, minimal preset) in a temp dir and, from
 * this process, watches every node's Beacon API event stream (`/eth/v1/events?topics=block,
 * finalized_checkpoint`), stamping each event with this process's clock when it arrives:
 *
 * 1. Time to first finality: genesis until the first `finalized_checkpoint` event (any node, and
 *    the last node), against the earliest the spec allows with full participation: the
 *    transition into epoch 4 (justification is skipped in epochs 0 and 1), 4 x 8 slots x 2 s =
 *    64 s after genesis.
 * 2. Block propagation: a node's `block` event fires when it has imported a block. The proposer
 *    imports its own block right before publishing it, so for every block and every other node
 *    "propagation" = that node's `block` event - the proposer's `block` event: gossip transfer
 *    plus the receiver's validation and import (state transition, signatures, its own EL
 *    executing the payload). Also "all nodes have it": the last node's `block` event - the
 *    slot's start, against the attestation deadline (1/3 of the slot). p50 / p99 / max, apart
 *    for idle blocks and blocks under transaction load.
 * 3. CPU and RSS per node process: CPU from `/proc/<pid>/stat` (utime + stime) over a window, as
 *    a percentage of one core; RSS from `/proc/<pid>/status` (VmRSS) sampled every second. Idle:
 *    `--idle` seconds from the start of epoch 1 with no transactions (consensus duties only).
 *    Load: `--duration` seconds after the first finality while this process sends signed
 *    transfers from the devnet's prefunded dev accounts at `--tps` per second
 *    (`eth_sendRawTransaction`, sender i always to node i mod N, so transactions also travel by
 *    gossip to the proposers).
 *
 * Everything (the nodes and this process) shares the machine's cores: on a small machine the
 * figures include that contention, and the event timestamps include this process's own delay.
 *
 * Flags: --nodes N (default 4) --validators V (default 16) --idle SECONDS (default 40)
 *        --duration SECONDS (load phase, default 60) --tps T (default 50) --senders S (default
 *        10, at most the devnet's 10 dev accounts) --keep (keep the devnet's temp dir and the
 *        nodes' logs) --log-level L (the nodes' log level, default info: the per-block import times
 *        come from the nodes' `Imported block` lines)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { type Hex, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { deriveDevAccounts, TEST_MNEMONIC } from "../../genesis/index.ts";
import { type Devnet, type DevnetNode, startDevnet } from "../devnet.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : fallback;
}

const NODES = arg("nodes", 4);
const VALIDATORS = arg("validators", 16);
const IDLE_S = arg("idle", 40);
const DURATION_S = arg("duration", 60);
const TPS = arg("tps", 50);
const SENDERS = arg("senders", 10);
const KEEP = process.argv.includes("--keep");
const LOG_LEVEL = (() => {
  const i = process.argv.indexOf("--log-level");
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : "info";
})();
if (![NODES, VALIDATORS, IDLE_S, DURATION_S, SENDERS].every((n) => Number.isInteger(n) && n > 0))
  throw new Error("--nodes, --validators, --idle, --duration and --senders must be positive integers");
if (!(TPS >= 0)) throw new Error("--tps must be a non-negative number");
if (SENDERS > 10) throw new Error("--senders: the devnet prefunds 10 dev accounts");

const SLOT_SECONDS = 2;
const SLOTS_PER_EPOCH = 8;
const SLOT_MS = SLOT_SECONDS * 1000;
/** The spec's earliest first finalization with full participation: entering epoch 4. */
const THEORETICAL_FIRST_FINALITY_S = 4 * SLOTS_PER_EPOCH * SLOT_SECONDS;
/** Attestations are due a third into the slot: a block should be everywhere by then. */
const ATTESTATION_DEADLINE_MS = SLOT_MS / 3;

const log = (msg: string) => process.stdout.write(`[bench:net] ${msg}\n`);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- statistics -------------------------------------------------------------------------------

/** Nearest-rank percentile (p in 0..100) of unsorted values. */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const ms = (v: number) => (Number.isNaN(v) ? "-" : `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms`);
const ratio = (v: number, ref: number) => (Number.isNaN(v) ? "-" : (v / ref).toFixed(2));

// --- JSON-RPC and Beacon API --------------------------------------------------------------------

async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

async function beacon<T>(base: string, path: string): Promise<T> {
  const response = await fetch(`${base}${path}`);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

interface StreamEvent {
  node: number;
  type: string;
  data: Record<string, unknown>;
  /** This process's clock (unix ms) when the event arrived. */
  at: number;
}

/** Reads a node's SSE stream until `signal` aborts, stamping each event on arrival. */
async function watchEvents(
  n: DevnetNode,
  signal: AbortSignal,
  onEvent: (e: StreamEvent) => void,
): Promise<void> {
  const response = await fetch(`${n.rest}/eth/v1/events?topics=block,finalized_checkpoint`, {
    signal,
    headers: { accept: "text/event-stream" },
  });
  if (!response.ok || response.body === null)
    throw new Error(`node ${n.index}: event stream ${response.status}`);
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for await (const chunk of response.body) {
      const at = now();
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = "";
        let data = "";
        for (const line of frame.split("\n")) {
          if (line.startsWith("event:")) type = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (type !== "" && data !== "")
          onEvent({ node: n.index, type, data: JSON.parse(data) as Record<string, unknown>, at });
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

// --- /proc --------------------------------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start with the state (field 3).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident set size in MiB. */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

interface Usage {
  /** Percent of one core over the window. */
  cpu: number[];
  rssMean: number[];
  rssMax: number[];
}

/** Measures every node's CPU and RSS for `seconds` (RSS sampled every second). */
async function measureUsage(devnet: Devnet, seconds: number): Promise<Usage> {
  const pids = devnet.nodes.map((n) => n.pid);
  const cpu0 = pids.map(cpuSeconds);
  const t0 = now();
  const rss: number[][] = pids.map(() => []);
  const end = t0 + seconds * 1000;
  while (now() < end) {
    for (const [i, pid] of pids.entries()) rss[i].push(rssMiB(pid));
    await sleep(Math.min(1000, Math.max(0, end - now())));
  }
  const wall = (now() - t0) / 1000;
  return {
    cpu: pids.map((pid, i) => ((cpuSeconds(pid) - cpu0[i]) / wall) * 100),
    rssMean: rss.map((r) => r.reduce((a, b) => a + b, 0) / r.length),
    rssMax: rss.map((r) => Math.max(...r)),
  };
}

// --- transaction load ---------------------------------------------------------------------------

interface Load {
  sent: number;
  failed: number;
  included: number;
  seconds: number;
}

/** Sends transfers at `tps` for `seconds` while `measure` runs; counts what the chain included. */
async function runLoad(devnet: Devnet, tps: number, seconds: number, measure: Promise<Usage>): Promise<Load> {
  const nodes = devnet.nodes;
  const chainId = Number(await rpc<string>(nodes[0].rpc, "eth_chainId"));
  const senders = deriveDevAccounts(TEST_MNEMONIC, SENDERS).map((a, i) => ({
    account: privateKeyToAccount(a.privateKey as Hex),
    node: nodes[i % nodes.length],
    nonce: 0,
    first: 0,
  }));
  for (const s of senders) {
    s.nonce = Number(
      await rpc<string>(s.node.rpc, "eth_getTransactionCount", [s.account.address, "pending"]),
    );
    s.first = s.nonce;
  }
  let sent = 0;
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const started = now();
  const end = started + seconds * 1000;
  let next = 0;
  while (tps > 0 && now() < end) {
    // Steady rate: catch up to where the schedule says we should be, then wait for the next tick.
    const due = Math.floor(((now() - started) / 1000) * tps);
    for (; sent + failed + inFlight.size < due; next++) {
      const s = senders[next % senders.length];
      const nonce = s.nonce++;
      const p = s.account
        .signTransaction({
          chainId,
          type: "eip1559",
          nonce,
          to: `0x${(0x1000 + next).toString(16).padStart(40, "0")}`,
          value: 1n,
          gas: 21_000n,
          maxFeePerGas: parseGwei("20"),
          maxPriorityFeePerGas: parseGwei("1"),
        })
        .then((raw) => rpc<Hex>(s.node.rpc, "eth_sendRawTransaction", [raw]))
        .then(
          () => {
            sent++;
          },
          (err: unknown) => {
            failed++;
            if (failed <= 3) log(`send failed: ${(err as Error).message}`);
          },
        );
      const tracked = p.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    }
    await sleep(50);
  }
  await Promise.all(inFlight);
  const elapsed = (now() - started) / 1000;
  await measure;
  // Let the last transactions land (two slots).
  await sleep(2 * SLOT_MS);
  let included = 0;
  for (const s of senders)
    included +=
      Number(await rpc<string>(s.node.rpc, "eth_getTransactionCount", [s.account.address, "latest"])) -
      s.first;
  return { sent, failed, included, seconds: elapsed };
}

// --- the run ------------------------------------------------------------------------------------

interface BlockSeen {
  slot: number;
  /** Node index → arrival (unix ms). */
  at: Map<number, number>;
}

async function main(): Promise<void> {
  const cpuList = cpus();
  const machine = `machine: ${cpuList[0]?.model ?? "unknown CPU"}, ${cpuList.length} cores; Node ${process.version}`;
  log(machine);
  log(`load average (1 min) before the run: ${loadavg()[0].toFixed(2)}`);
  log(
    `${NODES} nodes, ${VALIDATORS} validators, ${SLOT_SECONDS} s slots; idle ${IDLE_S} s; load ${DURATION_S} s at ${TPS} tx/s from ${SENDERS} senders`,
  );
  const dir = mkdtempSync(join(tmpdir(), "opengpu-bench-net-"));
  const started = now();
  let devnet: Devnet | undefined;
  const abort = new AbortController();
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    abort.abort();
    await devnet?.stop();
    if (KEEP && devnet !== undefined) {
      for (const n of devnet.nodes) writeFileSync(join(dir, `node-${n.index}.log`), devnet.output(n.index));
      log(`devnet kept in ${dir}`);
    } else rmSync(dir, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  try {
    devnet = await startDevnet({
      nodes: NODES,
      validators: VALIDATORS,
      dir,
      slotSeconds: SLOT_SECONDS,
      genesisDelay: 10 + 3 * NODES,
      logLevel: LOG_LEVEL,
    });
    const genesisMs = devnet.genesisTime * 1000;
    log(
      `devnet up in ${((now() - started) / 1000).toFixed(1)} s (pids ${devnet.nodes.map((n) => n.pid).join(", ")}); genesis in ${((genesisMs - now()) / 1000).toFixed(1)} s`,
    );

    const blocks = new Map<string, BlockSeen>();
    const firstFinality = new Map<number, number>();
    let finalizedEpoch = 0;
    const streams = devnet.nodes.map((n) =>
      watchEvents(n, abort.signal, (e) => {
        if (e.type === "block") {
          const root = String(e.data.block);
          let seen = blocks.get(root);
          if (seen === undefined) {
            seen = { slot: Number(e.data.slot), at: new Map() };
            blocks.set(root, seen);
          }
          if (!seen.at.has(e.node)) seen.at.set(e.node, e.at);
        } else if (e.type === "finalized_checkpoint") {
          const epoch = Number(e.data.epoch);
          if (epoch > 0 && !firstFinality.has(e.node)) firstFinality.set(e.node, e.at);
          finalizedEpoch = Math.max(finalizedEpoch, epoch);
        }
      }).catch((err: unknown) => log(`node ${n.index} event stream: ${(err as Error).message}`)),
    );
    const slotNow = () => Math.floor((now() - genesisMs) / SLOT_MS);
    const progress = setInterval(() => {
      const slot = slotNow();
      if (slot < 0) return;
      log(
        `slot ${slot} (epoch ${Math.floor(slot / SLOTS_PER_EPOCH)}): ${blocks.size} blocks seen, finalized epoch ${finalizedEpoch}`,
      );
    }, 10_000);
    progress.unref();

    // Idle: from the start of epoch 1 (past the nodes' start-up), consensus duties only.
    const idleFrom = genesisMs + SLOTS_PER_EPOCH * SLOT_MS;
    await sleep(Math.max(0, idleFrom - now()));
    log(`idle: measuring CPU and RSS for ${IDLE_S} s`);
    const idleStart = now();
    const idle = await measureUsage(devnet, IDLE_S);
    const idleEnd = now();

    // First finality on every node (or give up 4 epochs after the theoretical point).
    const finalityDeadline =
      genesisMs + (THEORETICAL_FIRST_FINALITY_S + 4 * SLOTS_PER_EPOCH * SLOT_SECONDS) * 1000;
    while (firstFinality.size < devnet.nodes.length && now() < finalityDeadline) await sleep(200);
    if (firstFinality.size === 0) log("WARNING: no node finalized");
    else
      log(`first finality after ${((Math.min(...firstFinality.values()) - genesisMs) / 1000).toFixed(1)} s`);

    log(`load: ${TPS} tx/s for ${DURATION_S} s`);
    const loadStart = now();
    const benchCpu0 = process.cpuUsage();
    const loadUsage = measureUsage(devnet, DURATION_S);
    const load = await runLoad(devnet, TPS, DURATION_S, loadUsage);
    const usage = await loadUsage;
    const benchCpu = process.cpuUsage(benchCpu0);
    const benchCpuPct = ((benchCpu.user + benchCpu.system) / 1e6 / ((now() - loadStart) / 1000)) * 100;
    const loadEnd = loadStart + DURATION_S * 1000;
    log(
      `load done: ${load.sent} sent (${load.failed} failed), ${load.included} included; finalized epoch ${finalizedEpoch}`,
    );
    clearInterval(progress);

    // Who proposed each block (its proposer index → the node running that validator).
    const nodeOf = (validator: number) =>
      devnet?.nodes.find((n) => validator >= n.validators.from && validator <= n.validators.to)?.index ?? -1;
    const proposerNode = new Map<string, number>();
    for (const root of blocks.keys()) {
      const header = await beacon<{ data: { header: { message: { proposer_index: string } } } }>(
        devnet.nodes[0].rest,
        `/eth/v1/beacon/headers/${root}`,
      ).catch(() => undefined);
      if (header !== undefined)
        proposerNode.set(root, nodeOf(Number(header.data.header.message.proposer_index)));
    }
    // Each node's own import time per block (its `Imported block` line: state transition,
    // signatures, EL execution, fork choice and head update).
    const importMs = new Map<string, Map<number, number>>();
    for (const n of devnet.nodes) {
      for (const line of devnet.output(n.index).split("\n")) {
        if (!line.includes('"msg":"Imported block"')) continue;
        const entry = JSON.parse(line) as { root: string; ms: number };
        let byNode = importMs.get(entry.root);
        if (byNode === undefined) {
          byNode = new Map();
          importMs.set(entry.root, byNode);
        }
        byNode.set(n.index, entry.ms);
      }
    }
    const finalHead = await rpc<{ number: string }>(devnet.nodes[0].rpc, "eth_getBlockByNumber", [
      "latest",
      false,
    ]);
    abort.abort();
    await Promise.all(streams);
    await cleanup();

    // --- figures ---
    type Window = { from: number; to: number };
    const phase = (w: Window) => {
      const propagation: number[] = [];
      const receiverImport: number[] = [];
      const allHave: number[] = [];
      const proposerReady: number[] = [];
      let count = 0;
      let incomplete = 0;
      for (const [root, seen] of blocks) {
        const slotStart = genesisMs + seen.slot * SLOT_MS;
        if (slotStart < w.from || slotStart >= w.to) continue;
        count++;
        const proposer = proposerNode.get(root);
        const own = proposer === undefined ? undefined : seen.at.get(proposer);
        if (seen.at.size < NODES) incomplete++;
        else allHave.push(Math.max(...seen.at.values()) - slotStart);
        if (own === undefined) continue;
        proposerReady.push(own - slotStart);
        for (const [node, at] of seen.at) {
          if (node === proposer) continue;
          propagation.push(at - own);
          const imported = importMs.get(root)?.get(node);
          if (imported !== undefined) receiverImport.push(imported);
        }
      }
      return { propagation, receiverImport, allHave, proposerReady, count, incomplete };
    };
    const idlePhase = phase({ from: idleStart, to: idleEnd });
    const loadPhase = phase({ from: loadStart, to: loadEnd });
    const firstAny =
      firstFinality.size > 0 ? (Math.min(...firstFinality.values()) - genesisMs) / 1000 : Number.NaN;
    const firstAll =
      firstFinality.size === NODES ? (Math.max(...firstFinality.values()) - genesisMs) / 1000 : Number.NaN;

    const rows: [string, string, string, string, string][] = [];
    const row = (label: string, idleV: string, loadV: string, ref = "", r = "") =>
      rows.push([label, idleV, loadV, ref, r]);
    const secs = (v: number) => (Number.isNaN(v) ? "-" : `${v.toFixed(1)} s`);
    row(
      "first finality, first node (after genesis)",
      secs(firstAny),
      "",
      `${THEORETICAL_FIRST_FINALITY_S} s`,
      ratio(firstAny, THEORETICAL_FIRST_FINALITY_S),
    );
    row(
      "first finality, every node",
      secs(firstAll),
      "",
      `${THEORETICAL_FIRST_FINALITY_S} s`,
      ratio(firstAll, THEORETICAL_FIRST_FINALITY_S),
    );
    const prop = (q: number) => (p: ReturnType<typeof phase>) => percentile(p.propagation, q);
    for (const [label, q] of [
      ["propagation proposer -> other node, p50", 50],
      ["propagation proposer -> other node, p99", 99],
    ] as const)
      row(
        label,
        ms(prop(q)(idlePhase)),
        ms(prop(q)(loadPhase)),
        `<= ${ms(ATTESTATION_DEADLINE_MS)}`,
        `${ratio(prop(q)(idlePhase), ATTESTATION_DEADLINE_MS)} / ${ratio(prop(q)(loadPhase), ATTESTATION_DEADLINE_MS)}`,
      );
    row(
      "  of which the receiver's import, p50",
      ms(percentile(idlePhase.receiverImport, 50)),
      ms(percentile(loadPhase.receiverImport, 50)),
    );
    row(
      "  of which the receiver's import, p99",
      ms(percentile(idlePhase.receiverImport, 99)),
      ms(percentile(loadPhase.receiverImport, 99)),
    );
    row(
      "proposer's import after slot start, p50",
      ms(percentile(idlePhase.proposerReady, 50)),
      ms(percentile(loadPhase.proposerReady, 50)),
    );
    for (const [label, q] of [
      ["every node has it, after slot start, p50", 50],
      ["every node has it, after slot start, p99", 99],
    ] as const) {
      const i = percentile(idlePhase.allHave, q);
      const l = percentile(loadPhase.allHave, q);
      row(
        label,
        ms(i),
        ms(l),
        `<= ${ms(ATTESTATION_DEADLINE_MS)}`,
        `${ratio(i, ATTESTATION_DEADLINE_MS)} / ${ratio(l, ATTESTATION_DEADLINE_MS)}`,
      );
    }
    row(
      "blocks (missing on some node)",
      `${idlePhase.count} (${idlePhase.incomplete})`,
      `${loadPhase.count} (${loadPhase.incomplete})`,
      `${IDLE_S / SLOT_SECONDS} / ${DURATION_S / SLOT_SECONDS} slots`,
    );
    row(
      "transactions sent / included, tx/s",
      "-",
      `${(load.sent / load.seconds).toFixed(1)} / ${(load.included / load.seconds).toFixed(1)}`,
      `${TPS} tx/s`,
      ratio(load.included / load.seconds, TPS),
    );
    row("transactions per block", "0", (load.included / Math.max(1, loadPhase.count)).toFixed(0));
    const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
    row(
      "CPU, all nodes (% of one core)",
      `${sum(idle.cpu).toFixed(0)} %`,
      `${sum(usage.cpu).toFixed(0)} %`,
      `${cpuList.length * 100} %`,
      `load/idle ${ratio(sum(usage.cpu), sum(idle.cpu))}`,
    );
    row("this process (signing, sending, events), CPU", "", `${benchCpuPct.toFixed(0)} %`);
    for (let i = 0; i < NODES; i++) {
      row(
        `node ${i} CPU % / RSS MiB (mean, max)`,
        `${idle.cpu[i].toFixed(0)} % / ${idle.rssMean[i].toFixed(0)}, ${idle.rssMax[i].toFixed(0)}`,
        `${usage.cpu[i].toFixed(0)} % / ${usage.rssMean[i].toFixed(0)}, ${usage.rssMax[i].toFixed(0)}`,
        "",
        `CPU ${ratio(usage.cpu[i], idle.cpu[i])}, RSS ${ratio(usage.rssMean[i], idle.rssMean[i])}`,
      );
    }
    const line = (r: [string, string, string, string, string]) =>
      `${r[0].padEnd(44)}${r[1].padStart(18)}${r[2].padStart(18)}${r[3].padStart(16)}  ${r[4]}\n`;
    process.stdout.write(
      `\n${machine}; ${NODES} nodes, ${VALIDATORS} validators, ${SLOT_SECONDS} s slots, minimal preset; load average (1 min) after the run ${loadavg()[0].toFixed(2)}\n`,
    );
    process.stdout.write(line(["", "idle", `load ${TPS} tx/s`, "reference", "ratio (idle / load)"]));
    for (const r of rows) process.stdout.write(line(r));
    const notes = [
      `Propagation: another node's 'block' event minus the proposer's own 'block' event (the proposer imports its block, then publishes it): gossip plus the receiver's validation and import, EL execution included. ${idlePhase.propagation.length} idle and ${loadPhase.propagation.length} loaded (block, node) pairs (with under 100 samples p99 is the largest). The receiver's import is the 'ms' of its 'Imported block' log line (empty with --log-level warn).`,
      "Every node has it: the last node's 'block' event minus the slot's start; the reference is the attestation deadline (1/3 of the slot).",
      `First finality reference: the transition into epoch 4 (${THEORETICAL_FIRST_FINALITY_S} s after genesis), the earliest with full participation (no justification in epochs 0 and 1).`,
      `Idle: ${IDLE_S} s from the start of epoch 1, no transactions. Load: ${DURATION_S} s after first finality; ${load.sent} transfers sent (${load.failed} failed) from ${SENDERS} dev accounts, sender i to node i mod ${NODES}; head EL block at the end ${Number(finalHead.number)}.`,
      `CPU from /proc/<pid>/stat (utime+stime, CLK_TCK ${CLK_TCK}) over each window, RSS from /proc/<pid>/status sampled every second. The nodes and this process share ${cpuList.length} cores.`,
    ];
    process.stdout.write(`\n${notes.join("\n")}\n`);
    log(`done in ${((now() - started) / 1000).toFixed(0)} s`);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

await main();
process.exit(0);
