/**
 * A real (non-dev) proof-of-stake network from the command line, as an operator sets one up:
 * `opengpu keys create` → `opengpu keys deposit-data` (for the network's fork version) →
 * `opengpu genesis add-deposits` (signatures checked, genesis time fixed) → `opengpu init`
 * (both halves of the genesis stored) → `opengpu node` with the keystores: from genesis its
 * validators propose every slot on the real clock, the Beacon API shows the genesis validators,
 * `opengpu keys exit` gets an exit included, and the signing history exports as EIP-3076.
 * Bad inputs fail with a clear message and a non-zero exit, never a hang.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devnetDefinition, TEST_MNEMONIC } from "../../genesis/index.ts";
import type { OpenGpuGenesis } from "../../genesis/types.ts";

const REPO = join(import.meta.dirname, "../..");
const BIN = join(REPO, "bin/opengpu.js");
const run = promisify(execFile);
const WITHDRAW_TO = "0x90f79bf6eb2c4f870365e785982e1f101e93b906";
// Network byte 7: fork versions 0x4f4707xx, so signatures made for the devnet (byte 0) are invalid here.
const FORK_VERSION = "0x4f470700";

let work: string;
const children = new Set<ChildProcess>();

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "opengpu-network-"));
});
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: REPO });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function ok(args: string[]): Promise<string> {
  const r = await cli(args);
  if (r.code !== 0) throw new Error(`opengpu ${args.join(" ")} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error !== undefined) throw new Error(body.error.message);
  return body.result as T;
}

describe("a proof-of-stake network from keystores and deposit data", () => {
  const keysDir = () => join(work, "keys");
  const password = () => join(work, "password.txt");
  const definitionFile = () => join(work, "network.json");
  const depositFile = () => join(work, "deposit_data.json");
  const datadir = () => join(work, "data");

  it("builds the network definition from deposit data, refusing bad deposits", async () => {
    writeFileSync(password(), "correct horse battery staple\n");
    writeFileSync(join(work, "mnemonic.txt"), `${TEST_MNEMONIC}\n`);
    await ok([
      "keys",
      "create",
      "--keys-dir",
      keysDir(),
      "--password-file",
      password(),
      "--mnemonic-file",
      join(work, "mnemonic.txt"),
      "--count",
      "2",
      "--kdf",
      "pbkdf2",
    ]);
    await ok([
      "keys",
      "deposit-data",
      "--keys-dir",
      keysDir(),
      "--password-file",
      password(),
      "--fork-version",
      FORK_VERSION,
      "--withdrawal-address",
      WITHDRAW_TO,
      "--network-name",
      "opengpu-testnet",
      "--out",
      depositFile(),
    ]);
    const definition: OpenGpuGenesis = devnetDefinition({ name: "opengpu-testnet", chainId: 7007 });
    if (definition.consensus === undefined) throw new Error("devnet has consensus parameters");
    // 1-second slots; validators may exit after one epoch (8 s) so the test can exit one.
    definition.consensus = {
      ...definition.consensus,
      networkByte: 7,
      secondsPerSlot: 1,
      shardCommitteePeriod: 1,
    };
    definition.validators = undefined;
    writeFileSync(definitionFile(), JSON.stringify(definition, null, 2));

    // Deposit data signed for another network (the devnet's fork version) is refused.
    const devnetDeposits = join(work, "devnet-deposits.json");
    await ok([
      "keys",
      "deposit-data",
      "--keys-dir",
      keysDir(),
      "--password-file",
      password(),
      "--fork-version",
      "0x4f470000",
      "--withdrawal-address",
      WITHDRAW_TO,
      "--out",
      devnetDeposits,
    ]);
    const wrongNetwork = await cli([
      "genesis",
      "add-deposits",
      "--definition",
      definitionFile(),
      "--deposit-data",
      devnetDeposits,
    ]);
    expect(wrongNetwork.code).not.toBe(0);
    expect(wrongNetwork.stderr).toMatch(/fork_version 4f470000 is not 4f470700/);

    // A tampered signature is refused too, naming the entry.
    const tampered = JSON.parse(readFileSync(depositFile(), "utf8")) as { signature: string }[];
    tampered[1].signature = `${tampered[1].signature.slice(0, -2)}00`;
    writeFileSync(join(work, "tampered.json"), JSON.stringify(tampered));
    const bad = await cli([
      "genesis",
      "add-deposits",
      "--definition",
      definitionFile(),
      "--deposit-data",
      join(work, "tampered.json"),
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/tampered.json entry 1 .*(deposit_data_root is wrong|signature)/);
    // Nothing was written.
    expect((JSON.parse(readFileSync(definitionFile(), "utf8")) as OpenGpuGenesis).validators).toBeUndefined();

    const genesisTime = Math.floor(Date.now() / 1000) + 6;
    const out = await ok([
      "genesis",
      "add-deposits",
      "--definition",
      definitionFile(),
      "--deposit-data",
      depositFile(),
      "--genesis-time",
      String(genesisTime),
    ]);
    expect(out).toMatch(/Added 2 genesis validator\(s\)/);
    const written = JSON.parse(readFileSync(definitionFile(), "utf8")) as OpenGpuGenesis;
    expect(written.validators?.deposits).toHaveLength(2);
    expect(written.timestamp).toBe(genesisTime);
    // Adding the same keys twice is refused.
    const twice = await cli([
      "genesis",
      "add-deposits",
      "--definition",
      definitionFile(),
      "--deposit-data",
      depositFile(),
    ]);
    expect(twice.stderr).toMatch(/already in the set/);
  });

  it("init stores both halves of the genesis and refuses another genesis for the same datadir", async () => {
    const lines = (
      await ok(["init", "--datadir", datadir(), "--genesis", definitionFile(), "--log.level", "warn"])
    )
      .trim()
      .split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^0x[0-9a-f]{64}$/); // execution genesis hash
    expect(lines[1]).toMatch(/^0x[0-9a-f]{64}$/); // beacon genesis block root
    // Idempotent with the same file.
    expect(
      (
        await ok(["init", "--datadir", datadir(), "--genesis", definitionFile(), "--log.level", "warn"])
      ).trim(),
    ).toBe(lines.join("\n"));
    const other = JSON.parse(readFileSync(definitionFile(), "utf8")) as OpenGpuGenesis;
    other.timestamp = (other.timestamp ?? 0) + 1;
    writeFileSync(join(work, "other.json"), JSON.stringify(other));
    const refused = await cli(["init", "--datadir", datadir(), "--genesis", join(work, "other.json")]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/datadir holds genesis 0x[0-9a-f]+, the given genesis is/);
  });

  it("opengpu node refuses to start validators without their password or fee recipient", async () => {
    const noPassword = await cli([
      "node",
      "--datadir",
      datadir(),
      "--keys-dir",
      keysDir(),
      "--http.port",
      "0",
    ]);
    expect(noPassword.code).not.toBe(0);
    expect(noPassword.stderr).toMatch(/2 keystore\(s\) in .*: --password-file is needed/);
    const noFeeRecipient = await cli([
      "node",
      "--datadir",
      datadir(),
      "--keys-dir",
      keysDir(),
      "--password-file",
      password(),
    ]);
    expect(noFeeRecipient.stderr).toMatch(/--fee-recipient is needed/);
  });

  it("opengpu node runs the network on the wall clock: proposes every slot, serves the Beacon API, exits a validator", async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        "node",
        "--datadir",
        datadir(),
        "--keys-dir",
        keysDir(),
        "--password-file",
        password(),
        "--fee-recipient",
        WITHDRAW_TO,
        "--http.port",
        "0",
        "--ws.port",
        "0",
        "--rest.port",
        "0",
        "--authrpc.port",
        "0",
        "--p2p.addr",
        "127.0.0.1",
        "--p2p.port",
        "0",
        "--log.level",
        "warn",
      ],
      { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.add(child);
    let output = "";
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const urls = await new Promise<{ rpc: string; rest: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not start:\n${output}`)), 60_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const rpcUrl = /JSON-RPC\s+(http:\/\/\S+)/.exec(output);
        const restUrl = /Beacon API (http:\/\/\S+)/.exec(output);
        if (rpcUrl !== null && restUrl !== null) {
          clearTimeout(timer);
          resolve({ rpc: rpcUrl[1], rest: restUrl[1] });
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`node exited (${code}):\n${output}`));
      });
    });
    expect(output).toMatch(/proof of stake: 2 local validator\(s\), 1s slots/);
    const p2p = /P2P\s+(\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/(\w+))/.exec(output);
    expect(p2p).not.toBeNull();
    const identity = (await (await fetch(`${urls.rest}/eth/v1/node/identity`)).json()) as {
      data: { peer_id: string; p2p_addresses: string[] };
    };
    expect(identity.data.peer_id).toBe(p2p?.[2]);
    expect(identity.data.p2p_addresses).toEqual([p2p?.[1]]);
    expect(output).not.toMatch(/correct horse/);

    // Blocks arrive on the real clock once genesis has passed (a few seconds from now).
    const deadline = Date.now() + 40_000;
    let number = 0;
    while (number < 3) {
      if (Date.now() > deadline) throw new Error(`no blocks by the deadline:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
      number = Number(await rpc<string>(urls.rpc, "eth_blockNumber"));
    }
    const block = await rpc<{ miner: string }>(urls.rpc, "eth_getBlockByNumber", ["latest", false]);
    expect(block.miner).toBe(WITHDRAW_TO);

    const validators = (await (await fetch(`${urls.rest}/eth/v1/beacon/states/head/validators`)).json()) as {
      data: {
        index: string;
        status: string;
        validator: { pubkey: string; withdrawal_credentials: string };
      }[];
    };
    expect(validators.data.map((v) => v.status)).toEqual(["active_ongoing", "active_ongoing"]);
    expect(validators.data[0].validator.withdrawal_credentials).toBe(
      `0x01${"00".repeat(11)}${WITHDRAW_TO.slice(2)}`,
    );
    const genesis = (await (await fetch(`${urls.rest}/eth/v1/beacon/genesis`)).json()) as {
      data: { genesis_fork_version: string; genesis_validators_root: string };
    };
    expect(genesis.data.genesis_fork_version).toBe(FORK_VERSION);
    const genesisRoot = genesis.data.genesis_validators_root;

    // A voluntary exit signed from the keystore and submitted through the Beacon API, once the
    // validator has been active for SHARD_COMMITTEE_PERIOD (1 epoch here).
    const exitArgs = [
      "keys",
      "exit",
      "--keys-dir",
      keysDir(),
      "--password-file",
      password(),
      "--beacon-url",
      urls.rest,
      "--pubkey",
      validators.data[1].validator.pubkey,
    ];
    expect((await cli(exitArgs)).stderr).toMatch(/cannot be undone: add --yes/);
    const headSlot = async () =>
      Number(
        (
          (await (await fetch(`${urls.rest}/eth/v1/beacon/headers/head`)).json()) as {
            data: { header: { message: { slot: string } } };
          }
        ).data.header.message.slot,
      );
    while ((await headSlot()) < 8) {
      if (Date.now() > deadline + 20_000) throw new Error(`epoch 1 not reached:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await ok([...exitArgs, "--yes"])).toMatch(
      /Submitted the voluntary exit of validator 1 \(0x[0-9a-f]{96}\) at epoch [1-9]\d*/,
    );
    const status = async () =>
      (
        (await (await fetch(`${urls.rest}/eth/v1/beacon/states/head/validators?id=1`)).json()) as {
          data: { status: string }[];
        }
      ).data[0].status;
    while ((await status()) !== "active_exiting") {
      if (Date.now() > deadline + 40_000) throw new Error(`exit not included:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // A second exit of the same validator is refused by the node with the reason.
    const again = await cli([...exitArgs, "--yes"]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(
      /refused: voluntary exit of validator 1 refused: validator has already initiated its exit/,
    );

    // The signing history cannot be exported while the node holds its databases...
    const exportArgs = [
      "keys",
      "slashing-protection",
      "export",
      "--datadir",
      datadir(),
      "--file",
      join(work, "interchange.json"),
    ];
    const busy = await cli(exportArgs);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toMatch(/is the node running\? stop it first/);

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).not.toMatch(/ERROR|Own block rejected/);

    // ...and can once it stopped: an EIP-3076 file for this chain with both validators' history,
    // which imports back.
    expect(await ok(exportArgs)).toMatch(/Exported 2 validator\(s\)/);
    const interchange = JSON.parse(readFileSync(join(work, "interchange.json"), "utf8")) as {
      metadata: { interchange_format_version: string; genesis_validators_root: string };
      data: { pubkey: string; signed_blocks: unknown[]; signed_attestations: unknown[] }[];
    };
    expect(interchange.metadata.interchange_format_version).toBe("5");
    expect(interchange.metadata.genesis_validators_root).toBe(genesisRoot);
    // Duties fall to either validator by the shuffle (and a loaded machine may start the node
    // late in an epoch): together they signed blocks and attestations.
    expect(interchange.data).toHaveLength(2);
    expect(interchange.data.reduce((n, v) => n + v.signed_blocks.length, 0)).toBeGreaterThan(0);
    expect(interchange.data.reduce((n, v) => n + v.signed_attestations.length, 0)).toBeGreaterThan(0);
    expect(
      await ok([
        "keys",
        "slashing-protection",
        "import",
        "--datadir",
        datadir(),
        "--file",
        join(work, "interchange.json"),
      ]),
    ).toMatch(/Imported 2 validator\(s\)/);
  });
});

describe("opengpu node on a chain without consensus parameters", () => {
  it("fails with a clear message instead of hanging", async () => {
    const dir = join(work, "el-only");
    const geth = devnetDefinition();
    geth.consensus = undefined;
    writeFileSync(join(work, "el-only.json"), JSON.stringify(geth));
    await ok(["init", "--datadir", dir, "--genesis", join(work, "el-only.json"), "--log.level", "warn"]);
    const r = await cli([
      "node",
      "--datadir",
      dir,
      "--http.port",
      "0",
      "--ws.port",
      "0",
      "--rest.port",
      "0",
      "--authrpc.port",
      "0",
      "--no-p2p",
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr, r.stderr).toMatch(/defines no proof-of-stake parameters.*--external-cl/);
  });
});
