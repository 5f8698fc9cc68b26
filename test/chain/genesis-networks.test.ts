/**
 * Geth-style genesis loading against real Ethereum networks: the genesis builder
 * (`resolveGenesis`), the state trie and the genesis header code must produce each network's
 * exact genesis block hash, pre-merge proof-of-work genesis blocks included.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToHex } from "@ethereumjs/util";
import { afterEach, describe, expect, it } from "vitest";
import { resolveGenesis } from "../../genesis/index.ts";
import { Blockchain } from "../../node/execution/chain/blockchain.ts";
import { ChainDB } from "../../node/execution/db/chain-db.ts";
import { silentLogger } from "../../node/utils/logger.ts";
import { type EthNetwork, holesky, hoodi, mainnet, sepolia } from "./eth-networks.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Initializes a temp datadir from the network's geth-style genesis; returns the opened chain's genesis. */
async function initNetwork(network: EthNetwork) {
  const dir = mkdtempSync(join(tmpdir(), `opengpu-genesis-${network.name}-`));
  dirs.push(dir);
  // Through JSON, exactly as a genesis.json file is read.
  const genesis = resolveGenesis(JSON.parse(JSON.stringify(network.genesis)));
  const db = await ChainDB.open(join(dir, "chaindata"));
  try {
    const hash = await Blockchain.initGenesis(db, genesis, silentLogger());
    const chain = await Blockchain.open({ db, logger: silentLogger() });
    return { hash: bytesToHex(hash), block: chain.genesis, config: chain.config };
  } finally {
    await db.close();
  }
}

describe("genesis of public Ethereum networks (geth-style genesis + @ethereumjs/genesis allocations)", () => {
  it("mainnet: proof-of-work genesis with 8893 accounts", { timeout: 120_000 }, async () => {
    const network = mainnet();
    expect(Object.keys(network.genesis.alloc).length).toBe(8893);
    const { hash, block, config } = await initNetwork(network);
    expect(bytesToHex(block.header.stateRoot)).toBe(network.stateRoot);
    expect(hash).toBe(network.hash);
    expect(block.header.difficulty).toBe(17_179_869_184n);
    expect(block.header.baseFeePerGas).toBeUndefined();
    expect(config.isOpenGpuNetwork).toBe(false);
    // Proof-of-work until the real merge block (geth's config gives only the terminal total difficulty).
    expect(config.hardforkAt(0n, 0n)).toBe("chainstart");
    expect(config.hardforkAt(1_150_000n, 1_457_981_393n)).toBe("homestead");
    expect(config.isPostMerge(0n, 0n)).toBe(false);
    expect(config.isPostMerge(15_537_393n, 1_663_224_162n)).toBe(false);
    expect(config.isPostMerge(15_537_394n, 1_663_224_179n)).toBe(true);
    expect(config.hardforkAt(17_034_870n, 1_681_338_455n)).toBe("shanghai");
  });

  it("sepolia: pre-merge genesis with London (base fee) active", async () => {
    const network = sepolia();
    const { hash, block, config } = await initNetwork(network);
    expect(bytesToHex(block.header.stateRoot)).toBe(network.stateRoot);
    expect(hash).toBe(network.hash);
    expect(block.header.baseFeePerGas).toBe(1_000_000_000n);
    expect(config.isPostMerge(0n, 1_633_267_481n)).toBe(false);
    expect(config.isPostMerge(1_450_408n, 1_657_256_160n)).toBe(false);
    expect(config.isPostMerge(1_450_409n, 1_657_256_172n)).toBe(true);
  });

  it("holesky: merged at genesis, deposit contract code and storage in the allocation", async () => {
    const network = holesky();
    expect(Object.values(network.genesis.alloc).some((a) => a.storage !== undefined)).toBe(true);
    const { hash, block } = await initNetwork(network);
    expect(bytesToHex(block.header.stateRoot)).toBe(network.stateRoot);
    expect(hash).toBe(network.hash);
  });

  it("hoodi: Shanghai and Cancun at genesis (withdrawals root, blob gas fields)", async () => {
    const network = hoodi();
    const { hash, block } = await initNetwork(network);
    expect(block.header.excessBlobGas).toBe(0n);
    expect(bytesToHex(block.header.stateRoot)).toBe(network.stateRoot);
    expect(hash).toBe(network.hash);
  });

  it("a re-init with the same genesis is accepted, a different one is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "opengpu-genesis-reinit-"));
    dirs.push(dir);
    const db = await ChainDB.open(join(dir, "chaindata"));
    try {
      const first = await Blockchain.initGenesis(db, resolveGenesis(sepolia().genesis), silentLogger());
      const again = await Blockchain.initGenesis(db, resolveGenesis(sepolia().genesis), silentLogger());
      expect(bytesToHex(again)).toBe(bytesToHex(first));
      await expect(
        Blockchain.initGenesis(db, resolveGenesis(holesky().genesis), silentLogger()),
      ).rejects.toMatchObject({ code: "GENESIS_MISMATCH" });
    } finally {
      await db.close();
    }
  });
});
