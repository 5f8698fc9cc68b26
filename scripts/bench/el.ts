/**
 * Execution-layer benchmark (`npm run bench:el`).
 *
 * 1. Starts `opengpu dev --automine` as a separate process (its own datadir, loopback ports).
 * 2. Funds S sender accounts, deploys an ERC-20, pre-signs N simple transfers and M ERC-20
 *    transfers, then sends them through JSON-RPC (`eth_sendRawTransaction`, C requests in
 *    flight over keep-alive connections) and measures committed transactions per second: from
 *    the first send until the last transaction's receipt exists.
 * 3. In the same run, replays the very blocks the node produced on raw @ethereumjs/vm in memory
 *    (default `Common`, default `MerkleStateManager`, `runBlock` with full validation) and
 *    reports both rates and their ratio.
 *
 * Flags: --transfers N (default 10000) --erc20 M (default 5000) --senders S (default 100)
 *        --concurrency C (default 32) --batch B (transactions per JSON-RPC request, default 1)
 *        --block-time SECONDS (default 1; 0 = automine, where every send waits for its block)
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBlockFromRLP } from "@ethereumjs/block";
import { createCommonFromGethGenesis } from "@ethereumjs/common";
import { MerkleStateManager } from "@ethereumjs/statemanager";
import { createFeeMarket1559Tx } from "@ethereumjs/tx";
import { Account, bytesToHex, createAddressFromString, hexToBytes, privateToAddress } from "@ethereumjs/util";
import { createVM, runBlock } from "@ethereumjs/vm";
import solc from "solc";
import { deriveDevAccounts, devnetDefinition, resolveGenesis, TEST_MNEMONIC } from "../../genesis/index.ts";
import type { GethGenesis } from "../../genesis/types.ts";
import { customCrypto } from "../../node/execution/crypto.ts";

type Hex = `0x${string}`;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const TRANSFERS = arg("transfers", 10_000);
const ERC20 = arg("erc20", 5_000);
const SENDERS = arg("senders", 100);
const CONCURRENCY = arg("concurrency", 32);
const BLOCK_TIME = arg("block-time", 1);
/** Transactions per JSON-RPC request: 1 sends single requests, more sends JSON-RPC batches. */
const BATCH = arg("batch", 1);
const ANVIL_TRANSFERS_PER_SECOND = 2_600;

const log = (msg: string) => process.stdout.write(`[bench:el] ${msg}\n`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/**
 * A lean JSON-RPC client (node:http with keep-alive): fetch() costs the client several times
 * more CPU per request, and on a 2-core machine the client shares the CPU with the node.
 */
class Rpc {
  private id = 0;
  readonly url: string;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly port: number;
  constructor(url: string) {
    this.url = url;
    this.port = Number(new URL(url).port);
  }
  private post(body: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: this.port,
          method: "POST",
          path: "/",
          agent: this.agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }
  async call<T>(method: string, params: unknown[] = []): Promise<T> {
    const text = await this.post(JSON.stringify({ jsonrpc: "2.0", id: ++this.id, method, params }));
    const body = JSON.parse(text) as { result?: T; error?: { message: string } };
    if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`);
    return body.result as T;
  }
  /** One JSON-RPC batch of calls to the same method; throws on the first error. */
  async batch(method: string, paramsList: unknown[][]): Promise<unknown[]> {
    const requests = paramsList.map((params) => ({ jsonrpc: "2.0", id: ++this.id, method, params }));
    const body = JSON.parse(await this.post(JSON.stringify(requests))) as {
      result?: unknown;
      error?: { message: string };
    }[];
    for (const item of body)
      if (item.error !== undefined) throw new Error(`${method}: ${item.error.message}`);
    return body.map((item) => item.result);
  }
  close(): void {
    this.agent.destroy();
  }
}

function compileToken(): { bytecode: Hex } {
  const source = readFileSync(new URL("./Token.sol", import.meta.url), "utf8");
  const input = {
    language: "Solidity",
    sources: { "Token.sol": { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "prague",
      outputSelection: { "*": { "*": ["evm.bytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    contracts: Record<string, Record<string, { evm: { bytecode: { object: string } } }>>;
    errors?: { severity: string; formattedMessage: string }[];
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  return { bytecode: `0x${output.contracts["Token.sol"].BenchToken.evm.bytecode.object}` };
}

const word = (n: bigint) => n.toString(16).padStart(64, "0");
const addressWord = (a: string) => a.slice(2).toLowerCase().padStart(64, "0");

async function waitForReceipt(
  rpc: Rpc,
  hash: string,
  timeoutMs = 120_000,
): Promise<{ status: string; contractAddress: string | null; blockNumber: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const receipt = await rpc.call<{
      status: string;
      contractAddress: string | null;
      blockNumber: string;
    } | null>("eth_getTransactionReceipt", [hash]);
    if (receipt !== null) return receipt;
    if (Date.now() > deadline) {
      const status = await rpc.call("txpool_status").catch(() => undefined);
      throw new Error(`no receipt for ${hash} (pool ${JSON.stringify(status)})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Sends raw transactions with C requests in flight. Each sender's transactions go through one
 * worker in nonce order (as a wallet sends them), so the pool sees no artificial nonce gaps.
 */
async function sendAll(rpc: Rpc, raws: Hex[], senderOf: (i: number) => number, label: string): Promise<void> {
  const lanes = new Map<number, Hex[]>();
  raws.forEach((raw, i) => {
    const lane = senderOf(i) % CONCURRENCY;
    const list = lanes.get(lane) ?? [];
    list.push(raw);
    lanes.set(lane, list);
  });
  let done = 0;
  let lastReport = Date.now();
  const worker = async (list: Hex[]) => {
    for (let i = 0; i < list.length; i += BATCH) {
      const chunk = list.slice(i, i + BATCH);
      if (chunk.length === 1) await rpc.call("eth_sendRawTransaction", [chunk[0]]);
      else
        await rpc.batch(
          "eth_sendRawTransaction",
          chunk.map((raw) => [raw]),
        );
      done += chunk.length;
      if (Date.now() - lastReport > 2000) {
        lastReport = Date.now();
        log(`${label}: sent ${done}/${raws.length}`);
      }
    }
  };
  await Promise.all([...lanes.values()].map(worker));
}

async function measure(
  rpc: Rpc,
  raws: Hex[],
  hashes: string[],
  label: string,
): Promise<{ seconds: number; first: bigint; last: bigint }> {
  const startBlock = BigInt(await rpc.call<string>("eth_blockNumber"));
  const started = performance.now();
  await sendAll(rpc, raws, (i) => i % SENDERS, label);
  const sentAt = performance.now();
  // Every transaction committed: the last one of each sender is in a block.
  const receipt = await waitForReceipt(rpc, hashes[hashes.length - 1]);
  for (const h of hashes.slice(-SENDERS)) await waitForReceipt(rpc, h);
  const seconds = (performance.now() - started) / 1000;
  log(
    `${label}: ${raws.length} sent in ${((sentAt - started) / 1000).toFixed(2)} s, all committed after ${seconds.toFixed(2)} s`,
  );
  return { seconds, first: startBlock + 1n, last: BigInt(receipt.blockNumber) };
}

async function replayRaw(
  genesis: GethGenesis,
  blocks: Uint8Array[],
): Promise<{ seconds: number; txs: number; gas: bigint }[]> {
  // Raw @ethereumjs/vm: default Common (pure-JS crypto), default MerkleStateManager, in memory.
  const common = createCommonFromGethGenesis(genesis as never, { chain: "bench" });
  const sm = new MerkleStateManager({ common });
  for (const [address, account] of Object.entries(genesis.alloc)) {
    const addr = createAddressFromString(address);
    await sm.putAccount(addr, new Account(BigInt(account.nonce ?? 0), BigInt(account.balance ?? 0)));
    if (account.code !== undefined) await sm.putCode(addr, hexToBytes(account.code as Hex));
  }
  await sm.getStateRoot();
  const hashes = new Map<bigint, Uint8Array>();
  const blockchain = {
    async getBlock(n: number) {
      return { hash: () => hashes.get(BigInt(n)) ?? new Uint8Array(32) };
    },
    async putBlock() {},
    shallowCopy() {
      return blockchain;
    },
  };
  const vm = await createVM({ common, stateManager: sm, blockchain });
  const out: { seconds: number; txs: number; gas: bigint }[] = [];
  for (const raw of blocks) {
    const block = createBlockFromRLP(raw, { common, setHardfork: true });
    const started = performance.now();
    await runBlock(vm, { block, skipHeaderValidation: true, skipHardForkValidation: true });
    out.push({
      seconds: (performance.now() - started) / 1000,
      txs: block.transactions.length,
      gas: block.header.gasUsed,
    });
    hashes.set(block.header.number, block.hash());
  }
  return out;
}

async function main(): Promise<void> {
  const httpPort = await freePort();
  const wsPort = await freePort();
  const datadir = mkdtempSync(join(tmpdir(), "opengpu-bench-"));
  const dev = deriveDevAccounts(TEST_MNEMONIC, 10);
  // The node builds its own dev genesis; we rebuild the same one here for the raw replay.
  const args = [
    "bin/opengpu.js",
    "dev",
    "--datadir",
    datadir,
    "--http.port",
    String(httpPort),
    "--ws.port",
    String(wsPort),
    "--log.level",
    process.env.BENCH_LOG_LEVEL ?? "warn",
    "--log.format",
    "json",
    "--txpool.globalslots",
    String(Math.max(16_384, TRANSFERS + ERC20 + SENDERS * 2)),
    ...(BLOCK_TIME > 0 ? ["--block-time", String(BLOCK_TIME)] : ["--automine"]),
  ];
  log(`starting: node ${args.join(" ")}`);
  const child = spawn(
    process.execPath,
    [...(process.env.BENCH_NODE_FLAGS?.split(" ").filter(Boolean) ?? []), ...args],
    { stdio: ["ignore", "pipe", process.env.BENCH_LOG_FILE ? "pipe" : "inherit"] },
  );
  if (process.env.BENCH_LOG_FILE)
    child.stderr?.pipe((await import("node:fs")).createWriteStream(process.env.BENCH_LOG_FILE));
  const stop = () => {
    child.kill("SIGTERM");
  };
  process.on("exit", stop);
  const rpc = new Rpc(`http://127.0.0.1:${httpPort}`);
  for (let i = 0; ; i++) {
    try {
      await rpc.call("eth_chainId");
      break;
    } catch {
      if (i > 200) throw new Error("node did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const genesisBlock = await rpc.call<{ timestamp: string }>("eth_getBlockByNumber", ["0x0", false]);
  const genesis = resolveGenesis(devnetDefinition(), { now: Number(BigInt(genesisBlock.timestamp)) });
  const chainId = BigInt(await rpc.call<string>("eth_chainId"));
  const common = createCommonFromGethGenesis(genesis as never, { chain: "bench", customCrypto });
  const sign = (key: Uint8Array, nonce: bigint, to: Hex | undefined, value: bigint, data: Hex, gas: bigint) =>
    createFeeMarket1559Tx(
      {
        chainId,
        nonce,
        to,
        value,
        data,
        gasLimit: gas,
        maxFeePerGas: 100_000_000_000n,
        maxPriorityFeePerGas: 1_000_000_000n,
      },
      { common },
    ).sign(key);

  // --- setup: deploy the token, fund senders with oGPU and tokens ---
  log(`setup: compiling ERC-20, funding ${SENDERS} senders`);
  const { bytecode } = compileToken();
  const owner = hexToBytes(dev[0].privateKey);
  let ownerNonce = BigInt(await rpc.call<string>("eth_getTransactionCount", [dev[0].address, "latest"]));
  const deploy = sign(
    owner,
    ownerNonce++,
    undefined,
    0n,
    `${bytecode}${word(10n ** 30n)}` as Hex,
    2_000_000n,
  );
  const deployHash = await rpc.call<string>("eth_sendRawTransaction", [bytesToHex(deploy.serialize())]);
  const token = (await waitForReceipt(rpc, deployHash)).contractAddress as Hex;
  const senders = Array.from({ length: SENDERS }, (_, i) => {
    const key = new Uint8Array(32);
    new DataView(key.buffer).setUint32(28, 0xbe0000 + i);
    return { key, address: bytesToHex(privateToAddress(key)) as Hex };
  });
  const setup: Hex[] = [];
  let lastSetupHash = "";
  for (const s of senders) {
    const fund = sign(owner, ownerNonce++, s.address, 10n ** 19n, "0x", 21_000n);
    const tokens = sign(
      owner,
      ownerNonce++,
      token,
      0n,
      `0xa9059cbb${addressWord(s.address)}${word(10n ** 24n)}` as Hex,
      100_000n,
    );
    setup.push(bytesToHex(fund.serialize()), bytesToHex(tokens.serialize()));
    lastSetupHash = bytesToHex(tokens.hash());
  }
  await sendAll(rpc, setup, () => 0, "setup");
  await waitForReceipt(rpc, lastSetupHash);

  // --- pre-sign the workloads ---
  log(`signing ${TRANSFERS} transfers and ${ERC20} ERC-20 transfers`);
  const nonces = senders.map(() => 0n);
  const signRound = (
    count: number,
    make: (i: number, s: (typeof senders)[number], nonce: bigint) => ReturnType<typeof sign>,
  ) => {
    const raws: Hex[] = [];
    const hashes: string[] = [];
    for (let i = 0; i < count; i++) {
      const k = i % SENDERS;
      const tx = make(i, senders[k], nonces[k]++);
      raws.push(bytesToHex(tx.serialize()));
      hashes.push(bytesToHex(tx.hash()));
    }
    return { raws, hashes };
  };
  const transfers = signRound(TRANSFERS, (i, s, nonce) =>
    sign(s.key, nonce, `0x${(0x100000 + i).toString(16).padStart(40, "0")}`, 1n, "0x", 21_000n),
  );
  const erc20 = signRound(ERC20, (i, s, nonce) =>
    sign(
      s.key,
      nonce,
      token,
      0n,
      `0xa9059cbb${addressWord(`0x${(0x200000 + i).toString(16).padStart(40, "0")}`)}${word(1n)}` as Hex,
      60_000n,
    ),
  );

  // --- through JSON-RPC ---
  const a = await measure(rpc, transfers.raws, transfers.hashes, "transfers");
  const b = await measure(rpc, erc20.raws, erc20.hashes, "erc20");
  const head = BigInt(await rpc.call<string>("eth_blockNumber"));

  // --- raw @ethereumjs/vm on the same blocks ---
  log(`replaying blocks 1..${head} on raw @ethereumjs/vm (pure-JS crypto, in memory)`);
  const raws: Uint8Array[] = [];
  for (let n = 1n; n <= head; n++)
    raws.push(hexToBytes(await rpc.call<Hex>("debug_getRawBlock", [`0x${n.toString(16)}`])));
  stop();
  rpc.close();
  const replay = await replayRaw(genesis, raws);
  const range = (from: bigint, to: bigint) => replay.slice(Number(from) - 1, Number(to));
  const sum = (rows: { seconds: number; txs: number; gas: bigint }[]) =>
    rows.reduce(
      (acc, r) => ({ seconds: acc.seconds + r.seconds, txs: acc.txs + r.txs, gas: acc.gas + r.gas }),
      { seconds: 0, txs: 0, gas: 0n },
    );
  const rawA = sum(range(a.first, a.last));
  const rawB = sum(range(b.first, b.last));
  rmSync(datadir, { recursive: true, force: true });

  const rate = (n: number, s: number) => n / s;
  const rows = [
    ["workload", "opengpu dev via JSON-RPC (committed tx/s)", "raw @ethereumjs/vm in memory (tx/s)", "ratio"],
    [
      "simple transfers",
      rate(TRANSFERS, a.seconds).toFixed(0),
      rate(rawA.txs, rawA.seconds).toFixed(0),
      (rate(TRANSFERS, a.seconds) / rate(rawA.txs, rawA.seconds)).toFixed(2),
    ],
    [
      "ERC-20 transfers",
      rate(ERC20, b.seconds).toFixed(0),
      rate(rawB.txs, rawB.seconds).toFixed(0),
      (rate(ERC20, b.seconds) / rate(rawB.txs, rawB.seconds)).toFixed(2),
    ],
  ];
  process.stdout.write("\n");
  for (const r of rows)
    process.stdout.write(
      `${r[0].padEnd(18)} ${r[1].padStart(42)} ${r[2].padStart(38)} ${r[3].padStart(6)}\n`,
    );
  const mgas = (gas: bigint, s: number) => (Number(gas) / 1e6 / s).toFixed(1);
  process.stdout.write(
    `\nraw VM gas rate: transfers ${mgas(rawA.gas, rawA.seconds)} Mgas/s, ERC-20 ${mgas(rawB.gas, rawB.seconds)} Mgas/s\n` +
      `vs Anvil reference (${ANVIL_TRANSFERS_PER_SECOND} transfers/s on this machine class): ${(rate(TRANSFERS, a.seconds) / ANVIL_TRANSFERS_PER_SECOND).toFixed(2)}x\n` +
      `blocks: transfers ${a.first}..${a.last}, ERC-20 ${b.first}..${b.last}; senders ${SENDERS}, concurrency ${CONCURRENCY}, ${BATCH > 1 ? `JSON-RPC batches of ${BATCH}` : "single requests"}, ${BLOCK_TIME > 0 ? `block time ${BLOCK_TIME}s` : "automine"}\n`,
  );
}

await main();
process.exit(0);
