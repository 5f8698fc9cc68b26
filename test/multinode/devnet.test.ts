/**
 * A 4-node devnet on loopback (separate `opengpu node` processes started by the devnet launcher,
 * 16 interop validators split among them): the nodes reach finality together, a transaction
 * sent to one node is included in a block another node proposed and is visible on all.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWalletClient, type Hex, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveDevAccounts, TEST_MNEMONIC } from "../../genesis/index.ts";
import { type Devnet, startDevnet } from "../../scripts/devnet.ts";
import { beacon, rpc, until } from "./util.ts";

let dir: string;
let devnet: Devnet;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "opengpu-devnet-test-"));
  devnet = await startDevnet({
    nodes: 4,
    validators: 16,
    dir,
    slotSeconds: 2,
    genesisDelay: 10,
    logLevel: "warn",
  });
}, 120_000);

afterAll(async () => {
  await devnet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("4-node devnet", () => {
  it("finalizes together", async () => {
    const finalized = async () =>
      Promise.all(
        devnet.nodes.map((n) =>
          beacon<{ data: { finalized: { epoch: string; root: string } } }>(
            n.rest,
            "/eth/v1/beacon/states/head/finality_checkpoints",
          ),
        ),
      );
    await until(
      async () => (await finalized()).every((f) => Number(f.data.finalized.epoch) >= 2),
      150_000,
      () => devnet.output(0),
    );
    // Every node is connected to every other and agrees on the finalized checkpoint.
    for (const n of devnet.nodes) {
      const count = await beacon<{ data: { connected: string } }>(n.rest, "/eth/v1/node/peer_count");
      expect(Number(count.data.connected)).toBe(3);
    }
    const all = await finalized();
    const epoch = Math.min(...all.map((f) => Number(f.data.finalized.epoch)));
    const roots = await Promise.all(
      devnet.nodes.map((n) =>
        beacon<{ data: { root: string } }>(n.rest, `/eth/v1/beacon/blocks/${epoch * 8}/root`).catch(
          () => undefined,
        ),
      ),
    );
    expect(new Set(roots.map((r) => r?.data.root)).size).toBe(1);
  }, 180_000);

  it("includes a transaction sent to node 1 in a block another node proposed, visible on all", async () => {
    const [sender] = deriveDevAccounts(TEST_MNEMONIC, 1);
    const account = privateKeyToAccount(sender.privateKey as Hex);
    const node1 = devnet.nodes[1];
    const wallet = createWalletClient({ account, transport: http(node1.rpc) });
    const chainId = Number(await rpc<string>(node1.rpc, "eth_chainId"));
    const chain = {
      id: chainId,
      name: "opengpu-devnet",
      nativeCurrency: { name: "oGPU", symbol: "OGPU", decimals: 18 },
      rpcUrls: { default: { http: [node1.rpc] } },
    };
    // Node 1 runs validators 4-7; keep sending until one lands in a block by another proposer.
    for (let attempt = 0; attempt < 8; attempt++) {
      const hash = await wallet.sendTransaction({
        chain,
        to: `0x${"11".repeat(20)}`,
        value: parseEther("1"),
      });
      const receipt = await until(
        () =>
          rpc<{ blockNumber: string; blockHash: string } | null>(node1.rpc, "eth_getTransactionReceipt", [
            hash,
          ]),
        30_000,
        () => devnet.output(1),
      );
      const block = await rpc<{ timestamp: string }>(node1.rpc, "eth_getBlockByHash", [
        receipt.blockHash,
        false,
      ]);
      const slot = (Number(block.timestamp) - devnet.genesisTime) / 2;
      const header = await beacon<{ data: { header: { message: { proposer_index: string } } } }>(
        node1.rest,
        `/eth/v1/beacon/headers/${slot}`,
      );
      const proposer = Number(header.data.header.message.proposer_index);
      if (proposer >= node1.validators.from && proposer <= node1.validators.to) continue;
      // Visible on every node, in the same block.
      for (const n of devnet.nodes) {
        const seen = await until(
          () => rpc<{ blockHash: string } | null>(n.rpc, "eth_getTransactionReceipt", [hash]),
          20_000,
          () => devnet.output(n.index),
        );
        expect(seen.blockHash).toBe(receipt.blockHash);
      }
      return;
    }
    throw new Error("no transaction landed in another node's block in 8 tries");
  }, 300_000);
});
