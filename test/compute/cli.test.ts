/**
 * `opengpu task ...` and `opengpu provider ...` as real processes (bin/opengpu.js) against a
 * proof-of-stake dev node whose slots the test runs while a command waits for its transaction.
 * Providers register with a V3 keystore or a key and a BLS key or EIP-2335 keystore; tasks are
 * submitted with a generated ONNX model file (registered and uploaded by the CLI) and the PP-OCR
 * direction classifier, on .npy and raw float32 inputs, inline and uploaded; settled tasks come
 * from the Market driver with outputs computed by the node's ONNX runner, and `task result`
 * writes them after checking the commitment.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SecretKey } from "@chainsafe/blst";
import { encryptKeystoreJson } from "ethers";
import { type Hex, toHex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mlpModel, seededInputs } from "../../node/compute-layer/models/generate.ts";
import { loadNpmModel, type NpmModel } from "../../node/compute-layer/models/npm-models.ts";
import {
  type CanonicalTensor,
  decodeCanonical,
  encodeCanonical,
  sha256Hex,
  writeNpy,
} from "../../node/compute-layer/runtime/index.ts";
import { encryptKeystore } from "../../node/consensus/keys/keystore.ts";
import { COMPUTE_PARAMS } from "../../precompiles/params.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";
import { commitAndDraw, runAuction, settleAccepted } from "./flows.ts";
import { Market, OGPU, type Provider } from "./market.ts";

const BIN = join(import.meta.dirname, "..", "..", "bin", "opengpu.js");
const MARKET_PROVIDERS = [4, 5, 6, 7];
/** Registers through the CLI with a V3 keystore signer and --bls-key. */
const CLI_PROVIDER = 8;
/** Registers through the CLI with --key and an EIP-2335 BLS keystore. */
const BLS_KEYSTORE_PROVIDER = 12;
const CLIENT = 9;
const KEEPER = 10;
const PASSWORD = "correct horse battery staple";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("opengpu task / provider CLI", () => {
  let dev: DevNodeHandle;
  let m: Market;
  let work: string;
  let providers: Provider[];
  let cliProviderKey: SecretKey;
  let mlpFile: string;
  const mlp = mlpModel();
  let cls: NpmModel;
  const children = new Set<ChildProcess>();

  /** Runs the CLI; with `slots`, runs slots until it exits (it waits for its transactions). */
  async function opengpu(args: string[], o: { slots?: boolean } = {}): Promise<Run> {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString("utf8");
    });
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString("utf8");
    });
    let done = false;
    const exited = new Promise<number>((resolve) =>
      child.on("close", (code) => {
        done = true;
        children.delete(child);
        resolve(code ?? -1);
      }),
    );
    if (o.slots === true)
      while (!done) {
        await m.nextSlot();
        await new Promise((r) => setTimeout(r, 200));
      }
    return { code: await exited, stdout, stderr };
  }
  const rpc = () => ["--rpc", dev.httpUrl];
  const key = (i: number) => ["--key", dev.accounts[i].privateKey];
  /** The JSON object on the last line of stdout. */
  const lastJson = (r: Run) =>
    JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as Record<string, unknown>;
  const ok = (r: Run) => {
    if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  const file = (name: string, bytes: Uint8Array | string) => {
    const path = join(work, name);
    writeFileSync(path, bytes);
    return path;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "opengpu-cli-compute-"));
    dev = await startDevNode({ consensus: true, accounts: 13 });
    m = new Market(dev);
    providers = await m.registerProviders(MARKET_PROVIDERS, 1000n * OGPU);
    cliProviderKey = SecretKey.fromKeygen(new Uint8Array(32).fill(77));
    mlpFile = file("mlp.onnx", mlp.bytes);
    cls = await loadNpmModel("ocr-cls");
  }, 60_000);
  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    await dev?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("has --help on every command", async () => {
    for (const command of [
      ["task"],
      ["task", "submit"],
      ["task", "status"],
      ["task", "result"],
      ["task", "cancel"],
      ["provider"],
      ["provider", "register"],
      ["provider", "status"],
      ["provider", "update"],
      ["provider", "add-stake"],
      ["provider", "unbond"],
      ["provider", "withdraw"],
    ]) {
      const r = ok(await opengpu([...command, "--help"]));
      expect(r.stdout).toContain(`Usage: opengpu ${command.join(" ")}`);
    }
  }, 60_000);

  describe("provider", () => {
    it("registers with a V3 keystore signer and a BLS key, and shows the provider", async () => {
      const account = dev.accounts[CLI_PROVIDER];
      const keystore = file(
        "signer.json",
        await encryptKeystoreJson({ address: account.address, privateKey: account.privateKey }, PASSWORD, {
          scrypt: { N: 1024 },
        }),
      );
      const passwordFile = file("password.txt", `${PASSWORD}\n`);
      const wrongFile = file("wrong.txt", "not the password\n");
      const signer = ["--keystore", keystore, "--password-file", passwordFile];
      const blsKey = toHex(cliProviderKey.toBytes());

      const wrong = await opengpu([
        "provider",
        "register",
        ...rpc(),
        "--keystore",
        keystore,
        "--password-file",
        wrongFile,
        "--stake",
        "200",
        "--bls-key",
        blsKey,
      ]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain(`${keystore}: wrong password (the keystore's MAC does not match)`);
      expect(wrong.stderr).not.toContain(PASSWORD);

      const r = ok(
        await opengpu(
          [
            "provider",
            "register",
            ...rpc(),
            ...signer,
            "--stake",
            "200",
            "--bls-key",
            blsKey,
            "--gpu-device",
            "RTX 4090",
            "--gpu-memory",
            "24564",
            "--execution-provider",
            "cuda",
            "--models",
            mlp.sha256,
            "--price",
            "0.5",
            "--peer-id",
            "16Uiu2HAm-test",
            "--json",
          ],
          { slots: true },
        ),
      );
      expect(lastJson(r)).toMatchObject({
        address: account.address.toLowerCase(),
        status: "Active",
        stake: "200",
        unbonding: "0",
        blsPubkey: toHex(cliProviderKey.toPublicKey().toBytes()),
        gpu: { device: "RTX 4090", memoryMiB: 24564, executionProvider: "cuda" },
        models: [mlp.sha256],
        price: "0.5",
        peerId: "16Uiu2HAm-test",
        tx: expect.stringMatching(/^0x[0-9a-f]{64}$/),
      });
      expect(r.stdout.trim().split("\n")).toHaveLength(1);
      // The node's view agrees.
      const onChain = await dev.call<Record<string, unknown>>("opengpu_getProvider", [account.address]);
      expect(onChain).toMatchObject({ status: "Active", stake: `0x${(200n * OGPU).toString(16)}` });

      const status = ok(await opengpu(["provider", "status", account.address, ...rpc()]));
      expect(status.stdout).toContain(`provider ${account.address.toLowerCase()}: Active`);
      expect(status.stdout).toContain("RTX 4090 (24564 MiB, cuda)");
      const mine = ok(await opengpu(["provider", "status", ...rpc(), ...signer, "--json"]));
      expect(lastJson(mine)).toMatchObject({ address: account.address.toLowerCase(), stake: "200" });

      const again = await opengpu(
        ["provider", "register", ...rpc(), ...signer, "--stake", "200", "--bls-key", blsKey, "--json"],
        { slots: true },
      );
      expect(again.code).toBe(1);
      expect(lastJson(again)).toEqual({
        error: { code: "COMPUTE_CLI_REVERTED", message: "register: already registered" },
      });
      expect(again.stderr).toContain("error: register: already registered");
    }, 120_000);

    it("adds stake, unbonds, refuses an early withdrawal with the contract's reason, updates the service", async () => {
      const added = ok(
        await opengpu(["provider", "add-stake", "10.25", ...rpc(), ...key(CLI_PROVIDER), "--json"], {
          slots: true,
        }),
      );
      expect(lastJson(added)).toMatchObject({ stake: "210.25" });
      const unbond = ok(
        await opengpu(["provider", "unbond", "5", ...rpc(), ...key(CLI_PROVIDER), "--json"], { slots: true }),
      );
      const u = lastJson(unbond);
      expect(u).toMatchObject({ status: "Active", stake: "205.25", unbonding: "5" });
      const head = await m.c.public.getBlock();
      expect(u.withdrawableAt).toBeGreaterThan(Number(head.timestamp));
      const early = await opengpu(["provider", "withdraw", ...rpc(), ...key(CLI_PROVIDER)]);
      expect(early.code).toBe(1);
      expect(early.stderr).toContain(`error: withdraw: unbonding until ${u.withdrawableAt}`);
      const tooMuch = await opengpu(["provider", "unbond", "1000", ...rpc(), ...key(CLI_PROVIDER)]);
      expect(tooMuch.code).toBe(1);
      expect(tooMuch.stderr).toContain(`error: unbond: can unbond 1 to ${20525n * 10n ** 16n} wei`);
      const updated = ok(
        await opengpu(["provider", "update", "--price", "0.75", ...rpc(), ...key(CLI_PROVIDER), "--json"], {
          slots: true,
        }),
      );
      expect(lastJson(updated)).toMatchObject({
        price: "0.75",
        models: [mlp.sha256],
        peerId: "16Uiu2HAm-test",
      });
    }, 120_000);

    it("registers with an EIP-2335 BLS keystore", async () => {
      const secret = SecretKey.fromKeygen(new Uint8Array(32).fill(78));
      const keystore = await encryptKeystore(secret, PASSWORD, "m/12381/3600/0/0/0", { workFactor: 1024 });
      const r = ok(
        await opengpu(
          [
            "provider",
            "register",
            ...rpc(),
            ...key(BLS_KEYSTORE_PROVIDER),
            "--stake",
            "150",
            "--bls-keystore",
            file("bls.json", JSON.stringify(keystore)),
            "--bls-password-file",
            file("bls-password.txt", PASSWORD),
          ],
          { slots: true },
        ),
      );
      expect(r.stdout).toContain(
        `registered ${dev.accounts[BLS_KEYSTORE_PROVIDER].address} with 150 oGPU staked`,
      );
      const p = await dev.call<{ blsPubkey: string }>("opengpu_getProvider", [
        dev.accounts[BLS_KEYSTORE_PROVIDER].address,
      ]);
      expect(p.blsPubkey).toBe(toHex(secret.toPublicKey().toBytes()));
      providers.push({
        account: BLS_KEYSTORE_PROVIDER,
        address: dev.accounts[BLS_KEYSTORE_PROVIDER].address as Hex,
        key: secret,
      });
      providers.push({
        account: CLI_PROVIDER,
        address: dev.accounts[CLI_PROVIDER].address as Hex,
        key: cliProviderKey,
      });
    }, 60_000);

    it("answers bad signers and unknown providers clearly", async () => {
      const bad = await opengpu(["provider", "status", ...rpc(), "--key", "0x1234"]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("error: --key must be a private key: 32 bytes as 64 hex digits");
      const unknown = await opengpu(["provider", "status", dev.accounts[KEEPER].address, ...rpc(), "--json"]);
      expect(unknown.code).toBe(1);
      expect(lastJson(unknown)).toEqual({
        error: {
          code: "COMPUTE_CLI_NOT_FOUND",
          message: `${dev.accounts[KEEPER].address.toLowerCase()} is not a registered provider`,
        },
      });
      const noSigner = await opengpu(["provider", "unbond", "1", ...rpc()]);
      expect(noSigner.stderr).toContain(
        "this command sends a transaction: give a signer with --keystore FILE",
      );
    }, 60_000);
  });

  describe("task", () => {
    let cancelId: string;

    it("submits with an ONNX file (registered and uploaded) and a .npy input, shows and cancels it", async () => {
      const input = seededInputs(mlp.inputs, 1, 2)[0];
      const npy = file("x.npy", writeNpy(input));
      const r = ok(
        await opengpu(
          [
            "task",
            "submit",
            ...rpc(),
            ...key(CLIENT),
            "--model",
            mlpFile,
            "--input",
            npy,
            "--max-price",
            "2.5",
            "--json",
          ],
          { slots: true },
        ),
      );
      const canonical = encodeCanonical([input]);
      const out = lastJson(r);
      expect(out).toMatchObject({
        state: "Open",
        model: mlp.sha256,
        modelRegistered: true,
        inputHash: sha256Hex(canonical),
        inputBytes: canonical.length,
        inputInline: true,
        maxPrice: "2.5",
        verificationFee: "0.003",
        deposit: "2.503",
        policy: "tolerance:0.001:0.00001:1",
      });
      expect(r.stderr).toContain(`model ${mlp.sha256} registered as "mlp"`);
      cancelId = String(out.id);
      // The model is registered with the file's interface, and its bytes are on the node.
      const model = await dev.call<Record<string, unknown>>("opengpu_getModel", [mlp.sha256]);
      expect(model).toMatchObject({
        name: "mlp",
        size: `0x${mlp.bytes.length.toString(16)}`,
        inputs: [{ name: "x", dtype: "float32", dtypeCode: "0x1", dims: [-1, 16] }],
        outputs: [
          { name: "logits", dtype: "float32", dims: [-1, 10] },
          { name: "probs", dtype: "float32", dims: [-1, 10] },
        ],
      });
      expect(await dev.call("opengpu_getBlob", [mlp.sha256])).toBe(toHex(mlp.bytes));

      const status = ok(await opengpu(["task", "status", cancelId, ...rpc()]));
      expect(status.stdout).toContain(`task ${cancelId}: Open`);
      expect(status.stdout).toContain("max price           2.5 oGPU   deposit 2.503 oGPU");
      const json = lastJson(ok(await opengpu(["task", "status", cancelId, ...rpc(), "--json"])));
      expect(json).toMatchObject({
        id: cancelId,
        state: "Open",
        verdict: "None",
        client: dev.accounts[CLIENT].address.toLowerCase(),
        provider: null,
        committeeSize: 3,
        committee: [],
        outputCommitment: null,
      });
      // The deadline is an hour after the head the command read, a block or two before its own.
      const ahead = Number(json.deadline) - Number(json.submittedAt);
      expect(ahead).toBeGreaterThan(3590);
      expect(ahead).toBeLessThanOrEqual(3600);

      const cancelled = ok(
        await opengpu(["task", "cancel", cancelId, ...rpc(), ...key(CLIENT), "--json"], { slots: true }),
      );
      expect(lastJson(cancelled)).toMatchObject({ id: cancelId, state: "Cancelled", refunded: "2.503" });
      const again = await opengpu(["task", "cancel", cancelId, ...rpc(), ...key(CLIENT), "--json"]);
      expect(again.code).toBe(1);
      expect(lastJson(again)).toEqual({
        error: { code: "COMPUTE_CLI_REVERTED", message: "cancelTask: task already awarded or closed" },
      });
      const notMine = await opengpu(["task", "cancel", cancelId, ...rpc(), ...key(KEEPER)]);
      expect(notMine.stderr).toContain("error: cancelTask: only the client can cancel");
    }, 120_000);

    it("submits by model hash with a large raw float32 input uploaded to the node", async () => {
      const input = seededInputs(mlp.inputs, 2, 2000)[0];
      const raw = file("x.f32", input.data);
      const r = ok(
        await opengpu(
          [
            "task",
            "submit",
            ...rpc(),
            ...key(CLIENT),
            "--model",
            mlp.sha256,
            "--input",
            raw,
            "--input-shape",
            "2000,16",
            "--max-price",
            "1",
            "--verification-fee",
            "0.3",
            "--policy",
            "exact",
            "--deadline",
            "900",
            "--json",
          ],
          { slots: true },
        ),
      );
      const canonical = encodeCanonical([input]);
      expect(canonical.length).toBeGreaterThan(COMPUTE_PARAMS.maxInlineInput);
      const out = lastJson(r);
      expect(out).toMatchObject({
        state: "Open",
        modelRegistered: false,
        inputHash: sha256Hex(canonical),
        inputInline: false,
        deposit: "1.3",
        policy: "exact",
      });
      expect(await dev.call("opengpu_getBlob", [sha256Hex(canonical), "0x0", "0x40"])).toBe(
        toHex(canonical.subarray(0, 64)),
      );
      const task = await m.task(BigInt(String(out.id)));
      expect(task.policy).toEqual({ kind: 0, rtolPpb: 0, atolPpb: 0, topK: 0 });
      expect(task.deadline - task.submittedAt).toBeLessThanOrEqual(900n);
    }, 120_000);

    it("refuses bad submissions with clear errors before sending anything", async () => {
      const base = ["task", "submit", ...rpc(), ...key(CLIENT), "--max-price", "1"];
      const raw = file("short.f32", new Uint8Array(60));
      const cases: [string[], string][] = [
        [
          ["--model", mlp.sha256, "--input", raw],
          "is not a .npy file: for raw little-endian float32 give its shape with --input-shape",
        ],
        [
          ["--model", mlp.sha256, "--input", raw, "--input-shape", "1,15"],
          "the input does not fit the model: input x has dims [1,15], the model takes [?,16] (axis 1 must be 16)",
        ],
        [
          ["--model", mlp.sha256, "--input", raw, "--input-shape", "1,16"],
          "raw float32 input of shape [1,16] needs 64 bytes, got 60",
        ],
        [["--model", mlp.sha256, "--input", `y=${raw}`], 'the model has no input "y" (its inputs: x)'],
        [["--model", mlp.sha256], "give the task's input with --input FILE"],
        [
          ["--model", `0x${"42".repeat(32)}`, "--input", raw],
          "is not registered on this chain: give its .onnx file",
        ],
        [["--model", raw, "--input", raw], "model bytes are not an ONNX model"],
        [
          ["--model", mlp.sha256, "--input", raw, "--policy", "tolerance:x:1:1"],
          "RTOL, ATOL and TOPK must be numbers",
        ],
        [
          ["--model", mlp.sha256, "--input", raw, "--policy", "fuzzy"],
          "expected exact, int8-exact or tolerance:RTOL:ATOL:TOPK",
        ],
        [["--model", mlp.sha256, "--input", raw, "--payment", "random"], "--payment random: equal or stake"],
      ];
      for (const [args, message] of cases) {
        const r = await opengpu([...base, ...args]);
        expect(r.code, args.join(" ")).toBe(1);
        expect(r.stderr, args.join(" ")).toContain(message);
      }
      const amount = await opengpu([
        "task",
        "submit",
        ...rpc(),
        "--model",
        mlpFile,
        "--max-price",
        "1.0000000000000000001",
      ]);
      expect(amount.stderr).toContain("has more than 18 decimals");
      const rank = await opengpu([...base, "--model", mlp.sha256, "--input", raw, "--input-shape", "15"]);
      expect(rank.stderr).toContain("input x has rank 1 [15], the model takes rank 2");
      // The contract's own checks come back as the error (the transaction is simulated first).
      const valid = file("one.f32", new Uint8Array(64));
      const args = ["--model", mlp.sha256, "--input", valid, "--input-shape", "1,16"];
      const shortWindow = await opengpu([...base, ...args, "--bidding-window", "1"]);
      expect(shortWindow.code).toBe(1);
      expect(shortWindow.stderr).toContain(
        `error: submitTask: bidding window must be ${COMPUTE_PARAMS.minBiddingWindow} to ${COMPUTE_PARAMS.maxWindow} seconds`,
      );
      const lowDeposit = await opengpu([...base, ...args, "--deposit", "1"]);
      expect(lowDeposit.stderr).toMatch(/error: submitTask: deposit \d+ below max price \+ verification fee/);
      const poor = await opengpu([
        "task",
        "submit",
        ...rpc(),
        "--key",
        `0x${"0".repeat(63)}1`,
        "--max-price",
        "1",
        ...args,
      ]);
      expect(poor.stderr).toContain(
        "error: submitTask: insufficient funds for gas * price + value in the signer's account",
      );
      const unknown = await opengpu(["task", "status", "999", ...rpc()]);
      expect(unknown.stderr).toMatch(/error: task 999 not found \(tasks are 1 to \d+\)/);
    }, 120_000);

    /** Runs task `id` through the market: an auction, the real output, an accepting committee. */
    async function settle(
      id: bigint,
      model: { sha256: Hex; bytes: Uint8Array },
      input: CanonicalTensor[],
    ): Promise<CanonicalTensor[]> {
      expect((await m.task(id)).inputHash).toBe(sha256Hex(encodeCanonical(input)));
      const result = await dev.node.compute.runner.run(model, input);
      // The executor's output goes to the node's blob store, named by its commitment.
      const stored = await dev.call<string>("opengpu_putBlob", [toHex(encodeCanonical(result.outputs))]);
      expect(stored).toBe(result.commitment);
      await runAuction(m, id, [{ p: providers[0], price: OGPU / 2n }], KEEPER);
      const verifying = await commitAndDraw(m, providers, id, result.commitment, KEEPER);
      expect(verifying.state).toBe(5);
      const settled = await settleAccepted(m, providers, id, KEEPER);
      expect(settled.state).toBe(6);
      return result.outputs;
    }

    it("writes a settled single-output task's result as .npy (PP-OCR classifier, raw float32 1,3,48,192)", async () => {
      const input = seededInputs([{ name: "x", dtype: "float32", dims: [1, 3, 48, 192] }], 3)[0];
      const r = ok(
        await opengpu(
          [
            "task",
            "submit",
            ...rpc(),
            ...key(CLIENT),
            "--model",
            cls.path,
            "--input",
            file("crop.f32", input.data),
            "--input-shape",
            "1,3,48,192",
            "--max-price",
            "1",
            "--bidding-window",
            "30",
            "--execution-timeout",
            "30",
            "--json",
          ],
          { slots: true },
        ),
      );
      const submitted = lastJson(r);
      expect(submitted).toMatchObject({ model: cls.sha256, modelRegistered: true, inputInline: false });
      const id = BigInt(String(submitted.id));

      const early = await opengpu([
        "task",
        "result",
        id.toString(),
        ...rpc(),
        "--out",
        join(work, "early.npy"),
      ]);
      expect(early.code).toBe(1);
      expect(early.stderr).toContain(`error: task ${id} is Open: it has no accepted result`);

      // The input was uploaded: the node serves it to providers.
      const uploaded = await dev.call<string>("opengpu_getBlob", [sha256Hex(encodeCanonical([input]))]);
      expect(decodeCanonical(Uint8Array.from(Buffer.from(uploaded.slice(2), "hex")))).toEqual([input]);
      const outputs = await settle(id, cls, [input]);
      expect(outputs).toHaveLength(1);
      const out = join(work, "direction.npy");
      const result = ok(await opengpu(["task", "result", id.toString(), ...rpc(), "--out", out, "--json"]));
      expect(lastJson(result)).toEqual({
        id: id.toString(),
        state: "Settled",
        output: sha256Hex(encodeCanonical(outputs)),
        file: out,
        format: "npy",
        bytes: writeNpy(outputs[0]).length,
        tensors: [{ name: "softmax_0.tmp_0", dtype: "float32", dims: [1, 2] }],
      });
      expect(Buffer.from(readFileSync(out)).equals(Buffer.from(writeNpy(outputs[0])))).toBe(true);
      const human = ok(await opengpu(["task", "status", id.toString(), ...rpc()]));
      expect(human.stdout).toContain(`task ${id}: Settled (verdict Accept)`);
    }, 180_000);

    it("writes a multi-output result as the canonical encoding and says so", async () => {
      const input = seededInputs(mlp.inputs, 4, 3)[0];
      const r = ok(
        await opengpu(
          [
            "task",
            "submit",
            ...rpc(),
            ...key(CLIENT),
            "--model",
            mlpFile,
            "--input",
            file("x3.npy", writeNpy(input)),
            "--max-price",
            "1",
            "--bidding-window",
            "30",
            "--execution-timeout",
            "30",
            "--json",
          ],
          { slots: true },
        ),
      );
      const id = BigInt(String(lastJson(r).id));
      const outputs = await settle(id, mlp, [input]);
      const out = join(work, "mlp-out.npy");
      const result = ok(await opengpu(["task", "result", id.toString(), ...rpc(), "--out", out]));
      expect(result.stdout).toContain(
        `wrote ${out}: canonical tensor encoding of 2 output tensors: logits float32 [3,10], probs float32 [3,10]`,
      );
      expect(result.stdout).toContain("note: the output has 2 tensors, so it is not a single .npy array");
      expect(Buffer.from(readFileSync(out)).equals(Buffer.from(encodeCanonical(outputs)))).toBe(true);
    }, 180_000);
  });
});
