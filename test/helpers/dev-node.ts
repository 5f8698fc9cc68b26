/**
 * Starts a real dev node in-process for tests: temp LevelDB datadir, random loopback ports,
 * silent logs. Everything a test needs to talk to it over HTTP or WebSocket.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type DevAccount,
  deriveDevAccounts,
  devnetDefinition,
  resolveGenesis,
  TEST_MNEMONIC,
} from "../../genesis/index.ts";
import type { GethGenesis } from "../../genesis/types.ts";
import type { Hex } from "../../node/execution/engine/types.ts";
import { type NodeOptions, OpenGpuNode } from "../../node/node.ts";
import { createLogger, silentLogger } from "../../node/utils/logger.ts";

export interface DevNodeHandle {
  node: OpenGpuNode;
  /** Test clock (unix ms) when running consensus. */
  setTime(ms: number): void;
  /** Runs slot `slot`'s validator duties (propose, attest, aggregate) with the clock at 2/3 of the slot. */
  runSlot(slot: number): Promise<void>;
  httpUrl: string;
  wsUrl: string;
  /** Beacon API base URL (with `rest` and consensus), else "". */
  restUrl: string;
  datadir: string;
  accounts: DevAccount[];
  /** JSON-RPC call over HTTP; returns the full response object. */
  rpc(
    method: string,
    params?: unknown[],
  ): Promise<{ result?: unknown; error?: { code: number; message: string; data?: unknown } }>;
  /** JSON-RPC call that throws on error and returns `result`. */
  call<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  stop(opts?: { keepDatadir?: boolean }): Promise<void>;
}

export interface DevNodeOptions {
  automine?: boolean;
  blockTime?: number;
  datadir?: string;
  genesis?: GethGenesis;
  accounts?: number;
  rpc?: Partial<NodeOptions["rpc"]>;
  metrics?: boolean;
  /** Log to stderr at this level instead of discarding logs. */
  logLevel?: "debug" | "info";
  /**
   * Run proof of stake with the genesis validators as this node's own (interop keys), on a
   * clock the test drives: `setTime` moves it, `runSlot` performs a slot's duties.
   */
  consensus?: boolean;
  /** With consensus: the slot the test clock starts at (e.g. where a restarted node left off). */
  startSlot?: number;
  /** With consensus: serve the Beacon API (REST) on a random loopback port (`restUrl`). */
  rest?: boolean;
  /**
   * With consensus: the genesis (interop) validators this node runs, by index; all by default.
   * Nodes sharing a genesis split the validators this way (`[]`: a node without validators).
   */
  validators?: number[];
}

export async function startDevNode(opts: DevNodeOptions = {}): Promise<DevNodeHandle> {
  const datadir = opts.datadir ?? mkdtempSync(join(tmpdir(), "opengpu-test-"));
  const count = opts.accounts ?? 10;
  const accounts = deriveDevAccounts(TEST_MNEMONIC, count);
  const genesis =
    opts.genesis ??
    resolveGenesis(devnetDefinition({ devAccounts: { mnemonic: TEST_MNEMONIC, count, balance: "10000" } }), {
      // Consensus tests run on their own clock from a fixed genesis time, so committees and
      // proposers (seeded by the genesis block hash) are the same on every run.
      now: opts.consensus === true ? 1_700_000_000 : Math.floor(Date.now() / 1000) - 10,
    });
  const logger =
    opts.logLevel !== undefined ? createLogger({ level: opts.logLevel, format: "text" }) : silentLogger();
  const slotSeconds = genesis.config.opengpu?.consensus?.secondsPerSlot ?? 2;
  let now = (Number(BigInt(genesis.timestamp)) + (opts.startSlot ?? 0) * slotSeconds) * 1000;
  let consensus: NodeOptions["consensus"];
  if (opts.consensus === true) {
    const { genesisValidatorsOf, interopKeys } = await import("../../node/consensus/genesis.ts");
    // Interop validators, withdrawing to dev account i mod n (the genesis builder's choice).
    const validators = genesisValidatorsOf(genesis);
    consensus = {
      genesisValidators: validators,
      validatorKeys: interopKeys(validators).filter(
        (_, i) => opts.validators === undefined || opts.validators.includes(i),
      ),
      feeRecipient: accounts[0].address as Hex,
      now: () => now,
      autoStart: false,
    };
  }
  const node = await OpenGpuNode.start(
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
        debug: true,
        options: {},
        ...opts.rpc,
      },
      metrics: opts.metrics === true ? { host: "127.0.0.1", port: 0 } : undefined,
      rest: opts.rest === true ? { host: "127.0.0.1", port: 0 } : undefined,
      dev: {
        blockTime: opts.blockTime ?? 1,
        automine: opts.automine ?? true,
        accounts,
        feeRecipient: accounts[0].address as Hex,
      },
      consensus,
    },
    logger,
  );
  const httpUrl = node.rpc.server.httpUrl ?? "";
  const wsUrl = node.rpc.server.wsUrl ?? "";
  const restUrl = node.beaconApi?.url ?? "";
  let id = 0;
  const rpc = async (method: string, params: unknown[] = []) => {
    const response = await fetch(httpUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
    });
    return (await response.json()) as {
      result?: unknown;
      error?: { code: number; message: string; data?: unknown };
    };
  };
  const secondsPerSlot = genesis.config.opengpu?.consensus?.secondsPerSlot ?? 2;
  const genesisMs = Number(BigInt(genesis.timestamp)) * 1000;
  return {
    node,
    setTime(ms: number) {
      now = ms;
    },
    async runSlot(slot: number) {
      const cl = node.consensus;
      if (cl === undefined) throw new Error("node runs without consensus");
      // 2/3 into the slot: proposal, attestations (1/3) and aggregates (2/3) all run at once.
      now = genesisMs + slot * secondsPerSlot * 1000 + Math.ceil((secondsPerSlot * 2000) / 3);
      await cl.validator.onSlot(slot);
    },
    httpUrl,
    wsUrl,
    restUrl,
    datadir,
    accounts,
    rpc,
    async call<T>(method: string, params: unknown[] = []): Promise<T> {
      const response = await rpc(method, params);
      if (response.error !== undefined)
        throw new Error(`${method}: ${response.error.code} ${response.error.message}`);
      return response.result as T;
    },
    async stop(stopOpts = {}) {
      await node.stop();
      if (stopOpts.keepDatadir !== true && opts.datadir === undefined)
        rmSync(datadir, { recursive: true, force: true });
    },
  };
}
