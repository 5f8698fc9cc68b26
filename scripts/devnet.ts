/**
 * Local multi-node devnet (`npm run devnet -- --nodes N [--validators V] [--dir DIR]`).
 *
 * Builds one genesis (the devnet definition with V interop validators and a genesis time a few
 * seconds ahead), initializes N datadirs from it, and starts N `opengpu node` processes on
 * 127.0.0.1, each with its own ports and datadir and a contiguous share of the validators; every
 * node dials the ones started before it (a full mesh: there is no peer discovery). The admin_
 * JSON-RPC namespace is on (tests partition the network with admin_banPeer). `DIR/devnet.json` lists each node's JSON-RPC, WebSocket, Beacon
 * API and p2p addresses. Ctrl-C stops them all. Tests start the same devnet through
 * `startDevnet()`.
 *
 * Flags: --nodes N (default 4), --validators V (default 16), --dir DIR (default a temp dir, kept),
 *        --providers (each node also runs a staked compute provider),
 *        --slot-time S (seconds, default 2), --genesis-delay S (default 8 + N), --log-level L
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { SecretKey } from "@chainsafe/blst";
import { deriveDevAccounts, devnetDefinition, TEST_MNEMONIC } from "../genesis/index.ts";

const REPO = resolve(import.meta.dirname, "..");
const BIN = join(REPO, "bin/opengpu.js");
const run = promisify(execFile);

export interface DevnetOptions {
  nodes: number;
  validators: number;
  dir: string;
  slotSeconds: number;
  /** Seconds from now to genesis: time for every node to start and connect. */
  genesisDelay: number;
  logLevel: string;
  /** Extra arguments for node `i` (tests). */
  extraArgs?: (i: number) => string[];
  /** Nodes initialized but not started (a test starts them later with `startNode`). */
  deferred?: number[];
  /**
   * Each node also runs a compute provider: node i uses dev account 9 - i (key files in its
   * datadir), stakes 1,000 oGPU and bids i + 1 oGPU per task.
   */
  providers?: boolean;
}

export interface DevnetNode {
  index: number;
  /** Whether the process runs now. */
  running: boolean;
  datadir: string;
  rpc: string;
  ws: string;
  rest: string;
  p2p: string;
  peerId: string;
  /** Prometheus `/metrics` URL, when the node runs with `--metrics.port` (see `extraArgs`). */
  metrics?: string;
  /** Genesis validator indices this node runs (inclusive). */
  validators: { from: number; to: number };
  pid: number;
}

export interface Devnet {
  dir: string;
  genesisTime: number;
  nodes: DevnetNode[];
  /** Output (stdout and stderr) of node `i` so far. */
  output(i: number): string;
  /** Stops node `i` (SIGTERM, or SIGKILL with `kill: true`); resolves with its exit code or signal. */
  stopNode(i: number, opts?: { kill?: boolean }): Promise<number | string | null>;
  /**
   * Starts node `i`: a deferred one (fresh ports), or a stopped one again on its datadir and
   * ports.
   */
  startNode(i: number): Promise<DevnetNode>;
  /** Stops every node. */
  stop(): Promise<void>;
}

/** Validators of node `i` when `v` are split over `n` nodes as evenly as possible. */
export function validatorShare(i: number, n: number, v: number): { from: number; to: number } {
  const base = Math.floor(v / n);
  const extra = v % n;
  const from = i * base + Math.min(i, extra);
  return { from, to: from + base + (i < extra ? 1 : 0) - 1 };
}

interface Running {
  child: ChildProcess;
  output: string;
  exited: Promise<number | string | null>;
}

function startProcess(args: string[], onLine?: (text: string) => void): Running {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  const running: Running = {
    child,
    output: "",
    exited: new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal))),
  };
  const collect = (chunk: Buffer) => {
    running.output += chunk.toString();
    onLine?.(running.output);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  return running;
}

/** Waits until the node printed its banner; returns its endpoints. */
function banner(
  r: Running,
  index: number,
): Promise<Pick<DevnetNode, "rpc" | "ws" | "rest" | "p2p" | "peerId" | "metrics">> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`node ${index} did not start in 60 s:\n${r.output}`)),
      60_000,
    );
    const check = () => {
      const rpc = /JSON-RPC\s+(http:\/\/\S+)\s+WebSocket\s+(ws:\/\/\S+)/.exec(r.output);
      const rest = /Beacon API (http:\/\/\S+)/.exec(r.output);
      const p2p = /P2P\s+(\/ip4\/\S+\/p2p\/(\w+))/.exec(r.output);
      if (rpc !== null && rest !== null && p2p !== null) {
        clearTimeout(timer);
        r.child.stdout?.off("data", check);
        // On the JSON-RPC line, so printed by now when the node serves metrics.
        const metrics = /metrics\s+(http:\/\/\S+\/metrics)/.exec(r.output)?.[1];
        resolve({ rpc: rpc[1], ws: rpc[2], rest: rest[1], p2p: p2p[1], peerId: p2p[2], metrics });
      }
    };
    r.child.stdout?.on("data", check);
    check();
    void r.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node ${index} exited (${code}) before it started:\n${r.output}`));
    });
  });
}

export async function startDevnet(opts: DevnetOptions): Promise<Devnet> {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1) throw new Error("--nodes must be at least 1");
  if (!Number.isInteger(opts.validators) || opts.validators < opts.nodes)
    throw new Error("--validators must be at least --nodes");
  mkdirSync(opts.dir, { recursive: true });
  const genesisTime = Math.floor(Date.now() / 1000) + opts.genesisDelay;
  const definition = devnetDefinition({ name: "opengpu-local-devnet", timestamp: genesisTime });
  definition.validators = { count: opts.validators, balance: "32", source: "community" };
  if (definition.consensus === undefined) throw new Error("the devnet definition has no consensus section");
  definition.consensus = { ...definition.consensus, secondsPerSlot: opts.slotSeconds };
  const genesisFile = join(opts.dir, "genesis.json");
  writeFileSync(genesisFile, `${JSON.stringify(definition, null, 2)}\n`);

  const datadirs = Array.from({ length: opts.nodes }, (_, i) => join(opts.dir, `node-${i}`));
  await Promise.all(
    datadirs.map((datadir) =>
      run(
        process.execPath,
        [BIN, "init", "--datadir", datadir, "--genesis", genesisFile, "--log.level", "warn"],
        {
          cwd: REPO,
        },
      ),
    ),
  );

  const processes: (Running | undefined)[] = [];
  const nodes: DevnetNode[] = [];
  const argsOf = (
    i: number,
    ports: { http: number; ws: number; rest: number; p2p: number },
    bootnodes: string[],
  ) => {
    const share = validatorShare(i, opts.nodes, opts.validators);
    return [
      "node",
      "--datadir",
      datadirs[i],
      "--interop-validators",
      `${share.from}-${share.to}`,
      "--http.port",
      String(ports.http),
      "--ws.port",
      String(ports.ws),
      "--rest.port",
      String(ports.rest),
      "--p2p.addr",
      "127.0.0.1",
      "--p2p.port",
      String(ports.p2p),
      "--authrpc.port",
      "0",
      "--rpc.admin",
      ...(bootnodes.length > 0 ? ["--bootnodes", bootnodes.join(",")] : []),
      "--log.level",
      opts.logLevel,
      "--log.format",
      "json",
      ...(opts.providers === true ? providerArgs(i) : []),
      ...(opts.extraArgs?.(i) ?? []),
    ];
  };
  const devAccounts = deriveDevAccounts(TEST_MNEMONIC, 10);
  const providerArgs = (i: number): string[] => {
    const account = devAccounts[devAccounts.length - 1 - i];
    const keyFile = join(datadirs[i], "provider.key");
    const blsFile = join(datadirs[i], "provider-bls.key");
    writeFileSync(keyFile, `${account.privateKey}\n`, { mode: 0o600 });
    const bls = SecretKey.fromKeygen(
      new TextEncoder().encode(`opengpu devnet provider ${i}`.padEnd(32, ".")),
    ).toBytes();
    writeFileSync(blsFile, `0x${Buffer.from(bls).toString("hex")}\n`, { mode: 0o600 });
    return [
      "--provider",
      "--provider.key-file",
      keyFile,
      "--provider.bls-key-file",
      blsFile,
      "--provider.stake",
      "1000",
      "--provider.price",
      String(i + 1),
    ];
  };
  const portsOf: ({ http: number; ws: number; rest: number; p2p: number } | undefined)[] = [];
  const stopAll = async () => {
    await Promise.all(
      processes.map(async (p) => {
        if (p === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return;
        p.child.kill("SIGTERM");
        const timer = setTimeout(() => p.child.kill("SIGKILL"), 15_000);
        await p.exited;
        clearTimeout(timer);
      }),
    );
  };
  const deferred = new Set(opts.deferred ?? []);
  /** Starts node i (ports 0 the first time, its own ports after), every known node as bootnode. */
  const launch = async (i: number): Promise<DevnetNode> => {
    const bootnodes = nodes.filter((n) => n !== undefined && n.index !== i && n.p2p !== "").map((n) => n.p2p);
    const r = startProcess(argsOf(i, portsOf[i] ?? { http: 0, ws: 0, rest: 0, p2p: 0 }, bootnodes));
    processes[i] = r;
    const endpoints = await banner(r, i);
    const port = (url: string) => Number(/:(\d+)(\/|$)/.exec(url)?.[1] ?? 0);
    portsOf[i] = {
      http: port(endpoints.rpc),
      ws: port(endpoints.ws),
      rest: port(endpoints.rest),
      p2p: Number(/\/tcp\/(\d+)/.exec(endpoints.p2p)?.[1] ?? 0),
    };
    const node: DevnetNode = {
      index: i,
      running: true,
      datadir: datadirs[i],
      ...endpoints,
      validators: validatorShare(i, opts.nodes, opts.validators),
      pid: r.child.pid ?? 0,
    };
    nodes[i] = node;
    void r.exited.then(() => {
      node.running = false;
    });
    return node;
  };
  try {
    for (let i = 0; i < opts.nodes; i++) {
      if (deferred.has(i)) {
        nodes[i] = {
          index: i,
          running: false,
          datadir: datadirs[i],
          rpc: "",
          ws: "",
          rest: "",
          p2p: "",
          peerId: "",
          validators: validatorShare(i, opts.nodes, opts.validators),
          pid: 0,
        };
        continue;
      }
      await launch(i);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  writeFileSync(
    join(opts.dir, "devnet.json"),
    `${JSON.stringify({ genesisTime, genesis: genesisFile, nodes }, null, 2)}\n`,
  );

  return {
    dir: opts.dir,
    genesisTime,
    nodes,
    output: (i) => processes[i]?.output ?? "",
    async stopNode(i, stopOpts = {}) {
      const p = processes[i];
      if (p === undefined) return null;
      p.child.kill(stopOpts.kill === true ? "SIGKILL" : "SIGTERM");
      return p.exited;
    },
    startNode: launch,
    stop: stopAll,
  };
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const nodes = Number(flag("nodes", "4"));
  const dir = resolve(flag("dir", mkdtempSync(join(tmpdir(), "opengpu-devnet-"))));
  const devnet = await startDevnet({
    nodes,
    validators: Number(flag("validators", "16")),
    dir,
    slotSeconds: Number(flag("slot-time", "2")),
    genesisDelay: Number(flag("genesis-delay", String(8 + nodes))),
    logLevel: flag("log-level", "info"),
    providers: process.argv.includes("--providers"),
  });
  const lines = [
    `OpenGPU devnet: ${devnet.nodes.length} nodes, genesis at ${new Date(devnet.genesisTime * 1000).toISOString()}`,
    ...devnet.nodes.map(
      (n) =>
        `node ${n.index}  validators ${n.validators.from}-${n.validators.to}  rpc ${n.rpc}  ws ${n.ws}  rest ${n.rest}  p2p ${n.p2p}`,
    ),
    `Listed in ${join(dir, "devnet.json")}; logs in each node's output. Ctrl-C stops all nodes.`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  process.stdout.write("Stopping the devnet...\n");
  await devnet.stop();
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().catch((err: unknown) => {
    process.stderr.write(`devnet: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
