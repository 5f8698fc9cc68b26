/**
 * `opengpu export` / `opengpu import` end to end: a chain with transfers (legacy, access-list and
 * EIP-1559 transactions), a contract deployment, contract calls and a failed creation is built on
 * a dev node, exported, and re-imported into fresh datadirs with full execution; plus the failure
 * modes (truncated file, tampered state root, foreign genesis) and gzip / range / multi-file use.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { RLP } from "@ethereumjs/rlp";
import { bytesToBigInt, bytesToHex, concatBytes, hexToBytes } from "@ethereumjs/util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devnetDefinition, resolveGenesis, TEST_MNEMONIC } from "../../genesis/index.ts";
import type { GethGenesis } from "../../genesis/types.ts";
import { buildProgram } from "../../node/cli/main.ts";
import { Blockchain } from "../../node/execution/chain/blockchain.ts";
import { ImportFailureCode, importChain, readRlpItems } from "../../node/execution/chain/rlp-io.ts";
import { keccak256 } from "../../node/execution/crypto.ts";
import { ChainDB } from "../../node/execution/db/chain-db.ts";
import { createLogger, silentLogger } from "../../node/utils/logger.ts";
import { startDevNode } from "../helpers/dev-node.ts";

/** Runtime: SSTORE(0, calldata[0:32]); LOG1(value, topic = caller). */
const RUNTIME = [
  0x60, 0x00, 0x35, 0x80, 0x60, 0x00, 0x55, 0x60, 0x00, 0x52, 0x33, 0x60, 0x20, 0x60, 0x00, 0xa1, 0x00,
];
/** Init code: CODECOPY the runtime (which follows these 12 bytes) and RETURN it. */
const INIT = [0x60, RUNTIME.length, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, RUNTIME.length, 0x60, 0x00, 0xf3];
const DEPLOY_CODE = bytesToHex(Uint8Array.from([...INIT, ...RUNTIME]));
/** Init code that reverts: a failed contract creation (status 0) included in a block. */
const REVERTING_INIT = "0x60006000fd";
const word = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;

interface Receipt {
  status: string;
  blockNumber: string;
  contractAddress: string | null;
  logs: unknown[];
}

interface SourceChain {
  genesis: GethGenesis;
  genesisFile: string;
  head: { number: bigint; hash: string; stateRoot: string };
  latestBlock: unknown;
  txHashes: string[];
  receipts: Receipt[];
  contract: string;
  /** The exported file and its blocks (whole RLP items), block 0 first. */
  file: string;
  blocks: Uint8Array[];
}

let work: string;
let source: SourceChain;

async function cli(args: string[]): Promise<void> {
  await buildProgram().parseAsync([...args, "--log.level", "warn"], { from: "user" });
}

async function itemsOf(path: string): Promise<Uint8Array[]> {
  const bytes = readFileSync(path);
  const plain = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  const out: Uint8Array[] = [];
  const chunks = (async function* () {
    yield plain;
  })();
  for await (const item of readRlpItems(chunks)) out.push(item.bytes.slice());
  return out;
}

function headerOf(block: Uint8Array): Uint8Array[] {
  return (RLP.decode(block) as Uint8Array[][])[0];
}
const numberOf = (block: Uint8Array) => bytesToBigInt(headerOf(block)[8]);
const hashOf = (block: Uint8Array) => bytesToHex(keccak256(RLP.encode(headerOf(block))));

/** A fresh datadir initialized with the source chain's genesis. */
async function withFreshChain<T>(use: (chain: Blockchain, datadir: string) => Promise<T>): Promise<T> {
  const datadir = mkdtempSync(join(work, "fresh-"));
  const db = await ChainDB.open(join(datadir, "chaindata"));
  try {
    await Blockchain.initGenesis(db, source.genesis, silentLogger());
    return await use(await Blockchain.open({ db, logger: silentLogger() }), datadir);
  } finally {
    await db.close();
  }
}

async function withChainAt<T>(datadir: string, use: (chain: Blockchain) => Promise<T>): Promise<T> {
  const db = await ChainDB.open(join(datadir, "chaindata"));
  try {
    return await use(await Blockchain.open({ db, logger: silentLogger() }));
  } finally {
    await db.close();
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "opengpu-rlp-io-"));
  const genesis = resolveGenesis(
    devnetDefinition({ devAccounts: { mnemonic: TEST_MNEMONIC, count: 10, balance: "10000" } }),
    { now: Math.floor(Date.now() / 1000) - 60 },
  );
  const genesisFile = join(work, "genesis.json");
  writeFileSync(genesisFile, JSON.stringify(genesis, null, 2));
  const datadir = join(work, "source");
  const dev = await startDevNode({ automine: true, genesis, datadir });
  const [a0, a1, a2, a3, a4, a5, a6] = dev.accounts.map((a) => a.address);
  const send = (tx: Record<string, unknown>) => dev.call<string>("eth_sendTransaction", [tx]);
  const txHashes: string[] = [];
  try {
    const gasPrice = `0x${(BigInt(await dev.call<string>("eth_gasPrice")) * 2n).toString(16)}`;
    txHashes.push(await send({ from: a0, to: a1, value: "0xde0b6b3a7640000" }));
    txHashes.push(await send({ from: a1, to: a2, value: "0x1234", gasPrice }));
    const deploy = await send({ from: a0, data: DEPLOY_CODE });
    txHashes.push(deploy);
    const contract = (await dev.call<Receipt>("eth_getTransactionReceipt", [deploy])).contractAddress;
    if (contract === null) throw new Error("deployment failed");
    txHashes.push(await send({ from: a1, to: contract, data: word(42) }));
    txHashes.push(
      await send({
        from: a2,
        to: contract,
        data: word(7),
        gasPrice,
        gas: "0x186a0",
        accessList: [{ address: contract, storageKeys: [word(0)] }],
      }),
    );
    txHashes.push(await send({ from: a0, data: REVERTING_INIT, gas: "0x186a0" }));
    // A burst from several senders shares blocks.
    txHashes.push(
      ...(await Promise.all(
        [a3, a4, a5, a6].map((from, i) => send({ from, to: contract, data: word(100 + i) })),
      )),
    );
    txHashes.push(await send({ from: a3, to: a0, value: "0x1" }));
    const receipts = await Promise.all(
      txHashes.map((h) => dev.call<Receipt>("eth_getTransactionReceipt", [h])),
    );
    const latestBlock = await dev.call<{ number: string; hash: string; stateRoot: string }>(
      "eth_getBlockByNumber",
      ["latest", true],
    );
    source = {
      genesis,
      genesisFile,
      head: { number: BigInt(latestBlock.number), hash: latestBlock.hash, stateRoot: latestBlock.stateRoot },
      latestBlock,
      txHashes,
      receipts,
      contract,
      file: join(work, "chain.rlp"),
      blocks: [],
    };
  } finally {
    await dev.stop({ keepDatadir: true });
  }
  await cli(["export", "--datadir", datadir, source.file]);
  source.blocks = await itemsOf(source.file);
}, 120_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe("opengpu export", () => {
  it("writes every canonical block from the genesis to the head as concatenated RLP", () => {
    expect(source.receipts.length).toBe(11);
    expect(source.receipts.map((r) => r.status)).toContain("0x0");
    expect(source.head.number).toBeGreaterThanOrEqual(8n);
    expect(source.blocks.length).toBe(Number(source.head.number) + 1);
    expect(source.blocks.map(numberOf)).toEqual(source.blocks.map((_, i) => BigInt(i)));
    expect(hashOf(source.blocks[source.blocks.length - 1])).toBe(source.head.hash);
  });

  it("gzips .gz files and honours --from/--to; refuses a range beyond the head", async () => {
    const gz = join(work, "part.rlp.gz");
    await cli(["export", "--datadir", join(work, "source"), gz, "--from", "2", "--to", "4"]);
    const raw = readFileSync(gz);
    expect([raw[0], raw[1]]).toEqual([0x1f, 0x8b]);
    const items = await itemsOf(gz);
    expect(items.map(numberOf)).toEqual([2n, 3n, 4n]);
    expect(items.map((b) => bytesToHex(b))).toEqual(source.blocks.slice(2, 5).map((b) => bytesToHex(b)));
    await expect(
      cli(["export", "--datadir", join(work, "source"), join(work, "x.rlp"), "--to", "100000"]),
    ).rejects.toThrow(/above the head/);
  });
});

describe("opengpu import", () => {
  const imported = () => join(work, "imported");

  it("re-executes the exported chain into a fresh datadir: same head, state root and receipts", async () => {
    await cli(["import", "--datadir", imported(), "--genesis", source.genesisFile, source.file]);
    await withChainAt(imported(), async (chain) => {
      expect(bytesToHex(chain.head.hash())).toBe(source.head.hash);
      expect(bytesToHex(chain.head.header.stateRoot)).toBe(source.head.stateRoot);
    });
    // The imported datadir serves the same receipts, blocks and state over JSON-RPC.
    const dev = await startDevNode({ automine: true, genesis: source.genesis, datadir: imported() });
    try {
      const receipts = await Promise.all(
        source.txHashes.map((h) => dev.call<Receipt>("eth_getTransactionReceipt", [h])),
      );
      expect(receipts).toEqual(source.receipts);
      expect(await dev.call("eth_getBlockByNumber", ["latest", true])).toEqual(source.latestBlock);
      expect(await dev.call("eth_getStorageAt", [source.contract, "0x0", "latest"])).not.toBe(word(0));
    } finally {
      await dev.stop();
    }
  });

  it("re-importing the same file is a no-op", async () => {
    await withChainAt(imported(), async (chain) => {
      const result = await importChain(chain, [source.file], { logger: silentLogger() });
      expect(result.failure).toBeUndefined();
      expect(result.imported).toBe(0);
      expect(result.skipped).toBe(source.blocks.length);
      expect(result.head.hash).toBe(source.head.hash);
    });
    // And through the CLI, with --genesis naming the genesis the datadir already holds.
    await cli(["import", "--datadir", imported(), "--genesis", source.genesisFile, source.file]);
  });

  it("imports several files in order, plain and gzipped", async () => {
    const first = join(work, "first.rlp.gz");
    const rest = join(work, "rest.rlp");
    await cli(["export", "--datadir", join(work, "source"), first, "--to", "3"]);
    await cli(["export", "--datadir", join(work, "source"), rest, "--from", "4"]);
    await withFreshChain(async (chain) => {
      const result = await importChain(chain, [first, rest], { logger: silentLogger() });
      expect(result.failure).toBeUndefined();
      expect(result.imported).toBe(Number(source.head.number));
      expect(result.skipped).toBe(1);
      expect(result.txs).toBe(source.txHashes.length);
      expect(result.head.hash).toBe(source.head.hash);
    });
  });

  it("logs progress lines with blocks/s, txs/s and Mgas/s", async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
        done();
      },
    });
    const logger = createLogger({ level: "info", format: "json", destination });
    await withFreshChain(async (chain) => {
      await importChain(chain, [source.file], { logger, progressIntervalMs: 0 });
    });
    const progress = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.msg === "Imported blocks");
    expect(progress.length).toBe(Number(source.head.number));
    for (const key of ["blocks/s", "txs/s", "Mgas/s", "number", "hash"])
      expect(progress[0]).toHaveProperty(key);
    expect(lines.some((l) => l.includes("Import done"))).toBe(true);
  });

  it("imports the complete prefix of a truncated file and reports the truncation", async () => {
    const k = 5;
    const cut = source.blocks[k].subarray(0, Math.floor(source.blocks[k].length / 2));
    const file = join(work, "truncated.rlp");
    writeFileSync(file, concatBytes(...source.blocks.slice(0, k), cut));
    await withFreshChain(async (chain) => {
      const result = await importChain(chain, [file], { logger: silentLogger() });
      expect(result.failure?.code).toBe(ImportFailureCode.TRUNCATED);
      expect(result.failure?.message).toMatch(/file ends inside a block/);
      expect(result.failure?.offset).toBe(source.blocks.slice(0, k).reduce((n, b) => n + b.length, 0));
      expect(result.imported).toBe(k - 1);
      expect(result.head.hash).toBe(hashOf(source.blocks[k - 1]));
    });
    // A truncated gzip stream is reported the same way.
    const gz = join(work, "truncated.rlp.gz");
    const full = readFileSync(join(work, "first.rlp.gz"));
    writeFileSync(gz, full.subarray(0, full.length - 8));
    await withFreshChain(async (chain) => {
      const result = await importChain(chain, [gz], { logger: silentLogger() });
      expect(result.failure?.code).toBe(ImportFailureCode.TRUNCATED);
    });
  });

  it("rejects a block with a tampered state root, with its number, hash and reason, and imports nothing after it", async () => {
    const k = source.blocks.findIndex((b, i) => i > 0 && (RLP.decode(b) as Uint8Array[][])[1].length > 0) + 2;
    expect(k).toBeLessThan(source.blocks.length - 1);
    const fields = RLP.decode(source.blocks[k]) as Uint8Array[][];
    fields[0][3] = new Uint8Array(32).fill(0xab); // stateRoot
    const tampered = RLP.encode(fields as never);
    const file = join(work, "tampered.rlp");
    writeFileSync(file, concatBytes(...source.blocks.slice(0, k), tampered, ...source.blocks.slice(k + 1)));
    const datadir = await withFreshChain(async (chain, dir) => {
      const result = await importChain(chain, [file], { logger: silentLogger() });
      expect(result.failure?.code).toBe(ImportFailureCode.INVALID_BLOCK);
      expect(result.failure?.number).toBe(BigInt(k));
      expect(result.failure?.hash).toBe(hashOf(tampered));
      expect(result.failure?.reason).toMatch(/state ?root/i);
      expect(result.failure?.message).toContain(`block ${k} ${hashOf(tampered)}`);
      expect(result.imported).toBe(k - 1);
      expect(result.head.hash).toBe(hashOf(source.blocks[k - 1]));
      expect(chain.store.hasBlock(hexToBytes(hashOf(tampered)))).toBe(false);
      expect(chain.store.hasBlock(hexToBytes(hashOf(source.blocks[k + 1])))).toBe(false);
      return dir;
    });
    // The CLI fails with the same reason and keeps the imported prefix.
    await expect(cli(["import", "--datadir", datadir, file])).rejects.toThrow(
      new RegExp(`block ${k} ${hashOf(tampered)} rejected.*state ?root`, "is"),
    );
    await withChainAt(datadir, async (chain) => {
      expect(bytesToHex(chain.head.hash())).toBe(hashOf(source.blocks[k - 1]));
    });
  });

  it("refuses a file whose genesis is not the datadir's", async () => {
    const fields = RLP.decode(source.blocks[0]) as Uint8Array[][];
    fields[0][12] = new TextEncoder().encode("another chain");
    const file = join(work, "foreign.rlp");
    writeFileSync(file, concatBytes(RLP.encode(fields as never), ...source.blocks.slice(1)));
    await withFreshChain(async (chain) => {
      const result = await importChain(chain, [file], { logger: silentLogger() });
      expect(result.failure?.code).toBe(ImportFailureCode.GENESIS_MISMATCH);
      expect(result.imported).toBe(0);
    });
  });

  it("reports a missing file as a read failure", async () => {
    await withFreshChain(async (chain) => {
      const result = await importChain(chain, [join(work, "missing.rlp")], { logger: silentLogger() });
      expect(result.failure?.code).toBe(ImportFailureCode.READ);
      expect(result.failure?.message).toMatch(/ENOENT/);
    });
  });

  it("needs an initialized datadir or --genesis", async () => {
    await expect(cli(["import", "--datadir", join(work, "empty"), source.file])).rejects.toThrow(
      /holds no chain.*--genesis/,
    );
  });
});
