/**
 * Crash safety of the execution layer.
 *
 * (a) A dev node restarted on the same datadir has the same head, receipts, balances and local
 *     pool transactions.
 * (b) The real CLI (`opengpu dev --datadir`) under sustained transaction load from several
 *     accounts is killed with SIGKILL at random moments. After each kill the datadir opens with
 *     no repair needed, the node restarts, every transaction whose receipt a client saw before
 *     the kill still has that receipt, and blocks keep coming. At the end the whole chain is
 *     re-executed into a fresh datadir from the stored genesis: same head hash and state root.
 *     A nonce-gapped local transaction survives a clean stop through the pool journal.
 *
 * The kill moments come from a seeded generator; the seed is printed (override: CRASH_SEED).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bytesToHex, createAddressFromString, hexToBytes } from "@ethereumjs/util";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, describe, expect, it } from "vitest";
import { deriveDevAccounts, devnetDefinition, resolveGenesis, TEST_MNEMONIC } from "../../genesis/index.ts";
import { Blockchain } from "../../node/execution/chain/blockchain.ts";
import { keccak256 as keccak } from "../../node/execution/crypto.ts";
import { ChainDB } from "../../node/execution/db/chain-db.ts";
import { MetaKey } from "../../node/execution/db/schema.ts";
import { silentLogger } from "../../node/utils/logger.ts";
import { startDevNode } from "../helpers/dev-node.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CHAIN_ID = 1337;
const accounts = deriveDevAccounts(TEST_MNEMONIC, 10);
type Hex = `0x${string}`;

interface Receipt {
  transactionHash: string;
  blockHash: string;
  blockNumber: string;
  status: string;
  gasUsed: string;
  logs: unknown[];
}

const work = mkdtempSync(join(tmpdir(), "opengpu-crash-"));
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

// --- JSON-RPC over HTTP ----------------------------------------------------------------------

let rpcId = 0;
async function rpcBatch(
  url: string,
  calls: [string, unknown[]][],
): Promise<{ result?: unknown; error?: { message: string } }[]> {
  const body = calls.map(([method, params]) => ({ jsonrpc: "2.0", id: ++rpcId, method, params }));
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const out = (await response.json()) as { id: number; result?: unknown; error?: { message: string } }[];
  const byId = new Map(out.map((r) => [r.id, r]));
  return body.map((c) => byId.get(c.id) ?? { error: { message: "no response" } });
}

async function call<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, params }),
  });
  const body = (await response.json()) as { result?: T; error?: { code: number; message: string } };
  if (body.error !== undefined) throw new Error(`${method}: ${body.error.code} ${body.error.message}`);
  return body.result as T;
}

async function receiptsOf(url: string, hashes: string[]): Promise<Map<string, Receipt | null>> {
  const out = new Map<string, Receipt | null>();
  for (let i = 0; i < hashes.length; i += 500) {
    const chunk = hashes.slice(i, i + 500);
    const responses = await rpcBatch(
      url,
      chunk.map((h) => ["eth_getTransactionReceipt", [h]]),
    );
    responses.forEach((r, j) => {
      if (r.error !== undefined) throw new Error(`eth_getTransactionReceipt: ${r.error.message}`);
      out.set(chunk[j], (r.result as Receipt | null) ?? null);
    });
  }
  return out;
}

/** Polls `check` every 50 ms until it returns a value other than undefined, or fails after `ms`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function signRaw(from: number, nonce: number, value = 1n): Promise<{ raw: Hex; hash: Hex }> {
  const account = privateKeyToAccount(accounts[from].privateKey as Hex);
  const raw = await account.signTransaction({
    chainId: CHAIN_ID,
    type: "eip1559",
    nonce,
    to: accounts[9].address as Hex,
    value,
    gas: 21_000n,
    maxFeePerGas: 100n * 10n ** 9n,
    maxPriorityFeePerGas: 10n ** 9n,
  });
  return { raw, hash: bytesToHex(keccak(hexToBytes(raw))) as Hex };
}

// --- (a) in-process restart -------------------------------------------------------------------

describe("restart keeps the chain", () => {
  it("same head, receipts, balances and journaled local transactions after stop and reopen", async () => {
    const datadir = join(work, "restart");
    const genesis = resolveGenesis(
      devnetDefinition({ devAccounts: { mnemonic: TEST_MNEMONIC, count: 10, balance: "10000" } }),
      { now: Math.floor(Date.now() / 1000) - 60 },
    );
    const node = await startDevNode({ datadir, genesis, automine: true });
    const hashes: string[] = [];
    for (let i = 0; i < 6; i++) {
      hashes.push(
        await node.call<string>("eth_sendTransaction", [
          { from: accounts[i % 3].address, to: accounts[5].address, value: `0x${(1000 + i).toString(16)}` },
        ]),
      );
    }
    // A local transaction with a nonce gap: queued, never mined.
    const gapped = await signRaw(4, 3);
    expect(await node.call("eth_sendRawTransaction", [gapped.raw])).toBe(gapped.hash);
    const snapshot = async (url: string) => ({
      head: await call<{ hash: string; number: string; stateRoot: string }>(url, "eth_getBlockByNumber", [
        "latest",
        false,
      ]),
      receipts: [...(await receiptsOf(url, hashes)).values()],
      balances: await Promise.all(
        [0, 1, 2, 5].map((i) => call<string>(url, "eth_getBalance", [accounts[i].address, "latest"])),
      ),
      queued: await call<{ queued: Record<string, { hash: string }> }>(url, "txpool_contentFrom", [
        accounts[4].address,
      ]),
    });
    const before = await snapshot(node.httpUrl);
    expect(before.receipts.every((r) => r !== null && r.status === "0x1")).toBe(true);
    expect(BigInt(before.head.number)).toBeGreaterThanOrEqual(1n);
    expect(before.queued.queued["3"]?.hash).toBe(gapped.hash);
    await node.stop({ keepDatadir: true });

    const again = await startDevNode({ datadir, genesis, automine: true });
    try {
      const after = await snapshot(again.httpUrl);
      expect(after).toEqual(before);
      // The reopened chain keeps growing from the same head.
      await again.call("eth_sendTransaction", [
        { from: accounts[0].address, to: accounts[5].address, value: "0x1" },
      ]);
      expect(BigInt(await again.call<string>("eth_blockNumber"))).toBe(BigInt(before.head.number) + 1n);
    } finally {
      await again.stop();
    }
  });
});

// --- (b) SIGKILL under load --------------------------------------------------------------------

interface NodeProcess {
  child: ChildProcess;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

async function startCli(datadir: string): Promise<NodeProcess> {
  const child = spawn(
    process.execPath,
    [
      "bin/opengpu.js",
      "dev",
      "--datadir",
      datadir,
      // Proof of stake with 1-second slots: the whole node (execution and consensus layer)
      // must survive the kill.
      "--block-time",
      "1",
      "--http.port",
      "0",
      "--ws.port",
      "0",
      "--log.level",
      "warn",
    ],
    { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] },
  );
  children.add(child);
  let output = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start in 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /JSON-RPC\s+(http:\/\/\S+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`node exited (${code ?? signal}) before it started:\n${output}`));
    });
  });
  return { child, url, exited, output: () => output };
}

async function exitWithin(
  node: NodeProcess,
  ms: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`node did not exit within ${ms} ms:\n${node.output()}`)), ms);
  });
  try {
    return await Promise.race([node.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the datadir in process (node stopped): the stored head must be usable as is. */
async function inspectDatadir(datadir: string): Promise<{ number: bigint; hash: string }> {
  const db = await ChainDB.open(join(datadir, "chaindata"));
  try {
    const storedHead = bytesToHex(db.getMeta(MetaKey.head) ?? new Uint8Array());
    const chain = await Blockchain.open({ db, logger: silentLogger() });
    // No repair was needed: the head written last has its block and its state.
    expect(bytesToHex(chain.head.hash())).toBe(storedHead);
    expect(chain.executor.hasState(chain.head.header.stateRoot)).toBe(true);
    for (let n = 0n; n <= chain.head.header.number; n++) {
      const block = chain.store.getBlockByNumber(n);
      expect(block, `canonical block ${n}`).toBeDefined();
      expect(chain.store.getReceipts(block!.hash())?.length).toBe(block!.transactions.length);
    }
    expect(chain.store.getBlockByNumber(chain.head.header.number + 1n)).toBeUndefined();
    return { number: chain.head.header.number, hash: storedHead };
  } finally {
    await db.close();
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("kill -9 during sustained load", () => {
  it("restarts with every confirmed receipt, keeps producing, and re-executes to the same state", async () => {
    const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const random = mulberry32(seed);
    const datadir = join(work, "killed");
    const senders = [1, 2, 3, 4];
    /** Receipts a client was given, by tx hash (block hash as seen then). */
    const confirmed = new Map<string, Receipt>();
    const log: string[] = [`seed ${seed}`];

    for (let round = 0; round < 3; round++) {
      const node = await startCli(datadir);
      // After a crash: the node came back with everything confirmed before it.
      if (confirmed.size > 0) {
        const now = await receiptsOf(node.url, [...confirmed.keys()]);
        for (const [hash, seen] of confirmed) {
          const receipt = now.get(hash);
          expect(receipt, `receipt of ${hash} after kill ${round}`).not.toBeNull();
          expect(receipt?.blockHash).toBe(seen.blockHash);
          expect(receipt?.status).toBe(seen.status);
        }
      }
      const startHead = BigInt(await call<string>(node.url, "eth_blockNumber"));

      let stopped = false;
      const sent: string[] = [];
      const loops = senders.map(async (i) => {
        while (!stopped) {
          try {
            sent.push(
              await call<string>(node.url, "eth_sendTransaction", [
                { from: accounts[i].address, to: accounts[8].address, value: "0x1", gas: "0x5208" },
              ]),
            );
          } catch {
            if (stopped) return;
            await new Promise((r) => setTimeout(r, 10));
          }
        }
      });
      const poller = (async () => {
        while (!stopped) {
          const open = sent.filter((h) => !confirmed.has(h));
          try {
            const found = await receiptsOf(node.url, open);
            for (const [hash, receipt] of found) if (receipt !== null) confirmed.set(hash, receipt);
          } catch {
            if (stopped) return;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();

      // Kill at a random moment once load is flowing (some receipts already handed out).
      const confirmedBefore = confirmed.size;
      const killAfter = Math.floor(random() * 2_500);
      let exit: { code: number | null; signal: NodeJS.Signals | null };
      try {
        await until("a first receipt in this round", 20_000, async () =>
          confirmed.size > confirmedBefore ? true : undefined,
        );
        await new Promise((r) => setTimeout(r, killAfter));
      } finally {
        node.child.kill("SIGKILL");
        exit = await exitWithin(node, 10_000);
        stopped = true;
        await Promise.all([...loops, poller]);
      }
      expect(exit.signal).toBe("SIGKILL");
      const head = await inspectDatadir(datadir);
      expect(head.number).toBeGreaterThanOrEqual(startHead);
      log.push(
        `round ${round}: killed ${killAfter} ms after its first receipt, ${sent.length} sent, ${confirmed.size} confirmed in all, head ${head.number}`,
      );
    }
    console.log(`[crash-safety] ${log.join("; ")}`);
    expect(confirmed.size).toBeGreaterThanOrEqual(3);

    // Restart once more: all receipts there, blocks keep coming.
    const node = await startCli(datadir);
    const now = await receiptsOf(node.url, [...confirmed.keys()]);
    for (const [hash, seen] of confirmed) expect(now.get(hash)?.blockHash, hash).toBe(seen.blockHash);
    const restartHead = BigInt(await call<string>(node.url, "eth_blockNumber"));
    await until("a new block after the restart", 15_000, async () =>
      BigInt(await call<string>(node.url, "eth_blockNumber")) > restartHead + 1n ? true : undefined,
    );
    // A transfer sent now is mined.
    const fresh = await call<string>(node.url, "eth_sendTransaction", [
      { from: accounts[1].address, to: accounts[8].address, value: "0x2", gas: "0x5208" },
    ]);
    const freshReceipt = await until(
      "the new transfer's receipt",
      15_000,
      async () => (await receiptsOf(node.url, [fresh])).get(fresh) ?? undefined,
    );
    expect(freshReceipt.status).toBe("0x1");

    // Journal: a nonce-gapped local transaction survives a clean stop.
    const nonce = Number(
      BigInt(await call<string>(node.url, "eth_getTransactionCount", [accounts[5].address, "pending"])),
    );
    const gapped = await signRaw(5, nonce + 2);
    expect(await call<string>(node.url, "eth_sendRawTransaction", [gapped.raw])).toBe(gapped.hash);
    node.child.kill("SIGTERM");
    expect((await exitWithin(node, 15_000)).code).toBe(0);
    const reopened = await startCli(datadir);
    const content = await call<{ queued: Record<string, { hash: string }> }>(
      reopened.url,
      "txpool_contentFrom",
      [accounts[5].address],
    );
    expect(content.queued[String(nonce + 2)]?.hash).toBe(gapped.hash);
    // Fill the gap: both the filler and the restored transaction are mined.
    for (const n of [nonce, nonce + 1]) {
      const filler = await signRaw(5, n);
      await call(reopened.url, "eth_sendRawTransaction", [filler.raw]);
    }
    await until(
      "the journaled transaction to be mined",
      15_000,
      async () => (await receiptsOf(reopened.url, [gapped.hash])).get(gapped.hash) ?? undefined,
    );
    reopened.child.kill("SIGTERM");
    expect((await exitWithin(reopened, 15_000)).code).toBe(0);

    // Re-execute the whole chain into a fresh datadir initialized from the stored genesis.
    const db = await ChainDB.open(join(datadir, "chaindata"));
    const replayDir = join(work, "replay");
    const replayDb = await ChainDB.open(join(replayDir, "chaindata"));
    try {
      const original = await Blockchain.open({ db, logger: silentLogger() });
      await Blockchain.initGenesis(replayDb, original.config.genesis, silentLogger());
      const replay = await Blockchain.open({ db: replayDb, logger: silentLogger() });
      expect(bytesToHex(replay.genesis.hash())).toBe(bytesToHex(original.genesis.hash()));
      let txs = 0;
      for (let n = 1n; n <= original.head.header.number; n++) {
        const block = original.store.getBlockByNumber(n);
        if (block === undefined) throw new Error(`canonical block ${n} missing`);
        txs += block.transactions.length;
        expect(await replay.insertBlock(block)).toBe(true);
        await replay.setHead(block.hash());
      }
      expect(bytesToHex(replay.head.hash())).toBe(bytesToHex(original.head.hash()));
      expect(bytesToHex(replay.head.header.stateRoot)).toBe(bytesToHex(original.head.header.stateRoot));
      expect(txs).toBeGreaterThanOrEqual(confirmed.size);
      for (const i of [...senders, 5, 8]) {
        const address = createAddressFromString(accounts[i].address);
        const a = await original.headState().getAccount(address);
        const b = await replay.headState().getAccount(address);
        expect(b?.balance).toBe(a?.balance);
        expect(b?.nonce).toBe(a?.nonce);
      }
      for (const hash of confirmed.keys())
        expect(replay.store.getTransaction(hexToBytes(hash as Hex))).toBeDefined();
    } finally {
      await replayDb.close();
      await db.close();
    }
  });
});
