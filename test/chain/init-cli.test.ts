/**
 * `opengpu init` on geth-style genesis.json files: the file is read as geth reads it (unprefixed
 * alloc keys, decimal balances), the printed genesis hash is the network's real one, the datadir
 * keeps the genesis it was initialized with, re-init is idempotent and a different genesis is
 * refused. Also the devnet round trip `opengpu genesis devnet --resolved` → `opengpu init`.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToHex } from "@ethereumjs/util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { resolveGenesis } from "../../genesis/index.ts";
import { buildProgram } from "../../node/cli/main.ts";
import { Blockchain } from "../../node/execution/chain/blockchain.ts";
import { ChainDB } from "../../node/execution/db/chain-db.ts";
import { silentLogger } from "../../node/utils/logger.ts";
import { type EthNetwork, holesky, sepolia } from "./eth-networks.ts";

const BIN = join(import.meta.dirname, "../../bin/opengpu.js");

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "opengpu-init-cli-"));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Runs the CLI in-process and returns what it printed on stdout. */
async function cli(args: string[], opts: { quiet?: boolean } = {}): Promise<string> {
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return true;
  });
  try {
    const quiet = opts.quiet === false ? [] : ["--log.level", "warn"];
    await buildProgram().parseAsync([...args, ...quiet], { from: "user" });
  } finally {
    spy.mockRestore();
  }
  return out.join("");
}

/** The network's genesis as geth's own genesis.json files spell it: no 0x on alloc keys, decimal balances. */
function writeGethFile(network: EthNetwork): string {
  const alloc: Record<string, Record<string, unknown>> = {};
  for (const [address, account] of Object.entries(network.genesis.alloc)) {
    alloc[address.slice(2).toLowerCase()] = { ...account, balance: BigInt(account.balance ?? 0).toString() };
  }
  const file = join(work, `${network.name}.json`);
  writeFileSync(file, JSON.stringify({ ...network.genesis, alloc }, null, 2));
  return file;
}

async function openChain<T>(datadir: string, use: (chain: Blockchain) => T): Promise<T> {
  const db = await ChainDB.open(join(datadir, "chaindata"));
  try {
    return use(await Blockchain.open({ db, logger: silentLogger() }));
  } finally {
    await db.close();
  }
}

describe("opengpu init with a geth-style genesis.json", () => {
  it("prints the network's genesis hash and stores the genesis it was given", async () => {
    const network = sepolia();
    const file = writeGethFile(network);
    const datadir = join(work, "sepolia");
    expect((await cli(["init", "--datadir", datadir, "--genesis", file])).trim()).toBe(network.hash);
    const expected = resolveGenesis(JSON.parse(readFileSync(file, "utf8")));
    await openChain(datadir, (chain) => {
      expect(bytesToHex(chain.genesis.hash())).toBe(network.hash);
      expect(bytesToHex(chain.head.hash())).toBe(network.hash);
      expect(chain.config.chainId).toBe(11_155_111n);
      expect(chain.config.genesis).toEqual(expected);
      expect(chain.config.genesis.alloc["0xa2a6d93439144ffe4d27c9e088dcd8b783946263"]?.balance).toBe(
        network.genesis.alloc["0xa2A6d93439144FFE4D27c9E088dCD8b783946263"]?.balance?.toLowerCase(),
      );
    });
    // Idempotent with the same genesis; refused with another.
    expect((await cli(["init", "--datadir", datadir, "--genesis", file])).trim()).toBe(network.hash);
    await expect(
      cli(["init", "--datadir", datadir, "--genesis", writeGethFile(holesky())]),
    ).rejects.toMatchObject({ code: "GENESIS_MISMATCH" });
  });

  it("works as a separate process through bin/opengpu.js", () => {
    const network = holesky();
    const out = execFileSync(
      process.execPath,
      [
        BIN,
        "init",
        "--datadir",
        join(work, "holesky"),
        "--genesis",
        writeGethFile(network),
        "--log.level",
        "warn",
      ],
      { encoding: "utf8" },
    );
    expect(out.trim()).toBe(network.hash);
  });

  it("round-trips the devnet: `genesis devnet --resolved` output initializes the same chain", async () => {
    const file = join(work, "devnet.json");
    await cli(["genesis", "devnet", "--resolved", "--out", file], { quiet: false });
    // A proof-of-stake network: the execution genesis hash, then the beacon genesis root.
    const [hash, beaconRoot] = (await cli(["init", "--datadir", join(work, "devnet"), "--genesis", file]))
      .trim()
      .split("\n");
    expect(beaconRoot).toMatch(/^0x[0-9a-f]{64}$/);
    const db = await ChainDB.open(join(work, "devnet-direct", "chaindata"));
    try {
      const direct = await Blockchain.initGenesis(
        db,
        resolveGenesis(JSON.parse(readFileSync(file, "utf8"))),
        silentLogger(),
      );
      expect(hash).toBe(bytesToHex(direct));
    } finally {
      await db.close();
    }
    await openChain(join(work, "devnet"), (chain) => {
      expect(chain.config.isOpenGpuNetwork).toBe(true);
      expect(chain.config.isPostMerge(0n, chain.genesis.header.timestamp)).toBe(true);
    });
  });
});
