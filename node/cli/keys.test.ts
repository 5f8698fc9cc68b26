import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  checkDepositData,
  createKeys,
  type DepositDataJson,
  deriveSecretKey,
  mnemonicToSeed,
  parseForkVersion,
  signingKeyPath,
} from "../consensus/keys/index.ts";
import { main } from "./main.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "opengpu-cli-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PASSWORD = "cli test password";
const passwordFile = join(dir, "password.txt");
writeFileSync(passwordFile, `${PASSWORD}\n`);
const FORK = "0x4f470000";
const ADDRESS = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

interface Run {
  out: string;
  err: string;
  code: number;
}

/** Runs `opengpu ...args` in this process, capturing stdout, stderr and the exit code. */
async function opengpu(...args: string[]): Promise<Run> {
  let out = "";
  let err = "";
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  process.exitCode = undefined;
  try {
    await main(args);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { out, err, code };
}

const pubkeyAt = (mnemonic: string, i: number): string =>
  deriveSecretKey(mnemonicToSeed(mnemonic), signingKeyPath(i)).toPublicKey().toHex();

describe("opengpu keys", () => {
  const datadir = join(dir, "node");
  const keysDir = join(datadir, "keys");
  let mnemonic = "";

  it("create: generates a mnemonic, shows it once with a warning, writes keystores", async () => {
    const run = await opengpu(
      "keys",
      "create",
      "--datadir",
      datadir,
      "--password-file",
      passwordFile,
      "--count",
      "2",
      "--kdf",
      "pbkdf2",
      "--json",
    );
    expect(run.code).toBe(0);
    const result = JSON.parse(run.out) as {
      keysDir: string;
      mnemonic: string;
      keys: { index: number; path: string; pubkey: string; file: string }[];
    };
    mnemonic = result.mnemonic;
    expect(mnemonic.split(" ").length).toBe(24);
    expect(run.err).toContain("WARNING: a new mnemonic was generated. It is shown only this once.");
    expect(result.keysDir).toBe(keysDir);
    expect(result.keys.map((k) => [k.index, k.path, k.pubkey])).toEqual([
      [0, "m/12381/3600/0/0/0", pubkeyAt(mnemonic, 0)],
      [1, "m/12381/3600/1/0/0", pubkeyAt(mnemonic, 1)],
    ]);
    expect(readdirSync(keysDir).every((f) => /^keystore-m_12381_3600_[01]_0_0-\d+\.json$/.test(f))).toBe(
      true,
    );
    expect(statSync(result.keys[0].file).mode & 0o777).toBe(0o600);
    expect(run.out + run.err).not.toContain(PASSWORD);
  });

  it("list: shows public keys and paths", async () => {
    const json = await opengpu("keys", "list", "--datadir", datadir, "--json");
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.out) as { keysDir: string; keys: { pubkey: string; path: string }[] };
    expect(listed.keys.map((k) => [k.pubkey, k.path])).toEqual([
      [pubkeyAt(mnemonic, 0), "m/12381/3600/0/0/0"],
      [pubkeyAt(mnemonic, 1), "m/12381/3600/1/0/0"],
    ]);
    const text = await opengpu("keys", "list", "--keys-dir", keysDir);
    expect(text.out.split("\n")[0]).toBe(`2 validator keys in ${keysDir}`);
    expect(text.out).toContain(
      `  ${pubkeyAt(mnemonic, 1)}  m/12381/3600/1/0/0  keystore-m_12381_3600_1_0_0-`,
    );
    const empty = await opengpu("keys", "list", "--keys-dir", join(dir, "nothing"));
    expect(empty.out).toBe(`No validator keys in ${join(dir, "nothing")}\n`);
  });

  it("deposit-data: signed 0x01 deposits for every key", async () => {
    const out = join(dir, "deposits.json");
    const run = await opengpu(
      "keys",
      "deposit-data",
      "--datadir",
      datadir,
      "--password-file",
      passwordFile,
      "--fork-version",
      FORK,
      "--withdrawal-address",
      ADDRESS,
      "--amount",
      "32",
      "--network-name",
      "opengpu-devnet",
      "--out",
      out,
    );
    expect(run.code).toBe(0);
    expect(run.out.split("\n")[0]).toBe(`Wrote deposit data for 2 validators to ${out}`);
    const deposits = JSON.parse(readFileSync(out, "utf8")) as DepositDataJson[];
    expect(deposits.map((d) => `0x${d.pubkey}`)).toEqual([pubkeyAt(mnemonic, 0), pubkeyAt(mnemonic, 1)]);
    for (const d of deposits) {
      expect(d.withdrawal_credentials).toBe(`01${"00".repeat(11)}${ADDRESS.slice(2)}`);
      expect(d.amount).toBe(32_000_000_000);
      expect(d.fork_version).toBe("4f470000");
      expect(d.network_name).toBe("opengpu-devnet");
      expect(checkDepositData(d, parseForkVersion(FORK))).toBeUndefined();
    }
  });

  it("deposit-data: BLS (0x00) credentials from the mnemonic file, written next to the keys", async () => {
    const mnemonicFile = join(dir, "mnemonic.txt");
    writeFileSync(mnemonicFile, `${mnemonic}\n`);
    const run = await opengpu(
      "keys",
      "deposit-data",
      "--keys-dir",
      keysDir,
      "--password-file",
      passwordFile,
      "--mnemonic-file",
      mnemonicFile,
      "--fork-version",
      FORK,
      "--json",
    );
    expect(run.code).toBe(0);
    const result = JSON.parse(run.out) as { file: string; deposits: DepositDataJson[] };
    expect(result.file).toMatch(new RegExp(`^${keysDir}/deposit_data-\\d+\\.json$`));
    expect(JSON.parse(readFileSync(result.file, "utf8"))).toEqual(result.deposits);
    expect(result.deposits.map((d) => d.withdrawal_credentials.slice(0, 2))).toEqual(["00", "00"]);
    expect(result.deposits.every((d) => checkDepositData(d, parseForkVersion(FORK)) === undefined)).toBe(
      true,
    );
    // The deposit file does not disturb the key listing.
    expect(JSON.parse((await opengpu("keys", "list", "--keys-dir", keysDir, "--json")).out).keys.length).toBe(
      2,
    );
    // Without the mnemonic there is no withdrawal key.
    const refused = await opengpu(
      "keys",
      "deposit-data",
      "--keys-dir",
      keysDir,
      "--password-file",
      passwordFile,
      "--fork-version",
      FORK,
    );
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(
      /^error: BLS \(0x00\) withdrawal credentials for 0x[0-9a-f]{96} need the mnemonic/,
    );
  });

  it("create with a mnemonic file and --fork-version writes deposit data and does not print the mnemonic", async () => {
    const mnemonicFile = join(dir, "mnemonic2.txt");
    const words = "test test test test test test test test test test test junk";
    writeFileSync(mnemonicFile, words);
    const other = join(dir, "other-keys");
    const run = await opengpu(
      "keys",
      "create",
      "--keys-dir",
      other,
      "--password-file",
      passwordFile,
      "--mnemonic-file",
      mnemonicFile,
      "--start-index",
      "5",
      "--kdf",
      "pbkdf2",
      "--fork-version",
      FORK,
      "--withdrawal-address",
      ADDRESS,
      "--compounding",
      "--amount",
      "64",
    );
    expect(run.code).toBe(0);
    const lines = run.out.trimEnd().split("\n");
    expect(lines[0]).toBe(`Created 1 validator key in ${other}`);
    expect(lines[1]).toMatch(
      new RegExp(`^  m/12381/3600/5/0/0  ${pubkeyAt(words, 5)}  keystore-m_12381_3600_5_0_0-\\d+\\.json$`),
    );
    expect(lines[2]).toMatch(new RegExp(`^Deposit data: ${other}/deposit_data-\\d+\\.json$`));
    expect(run.out + run.err).not.toContain("test test");
    const [deposit] = JSON.parse(
      readFileSync(lines[2].slice("Deposit data: ".length), "utf8"),
    ) as DepositDataJson[];
    expect(deposit.withdrawal_credentials.slice(0, 2)).toBe("02");
    expect(deposit.amount).toBe(64_000_000_000);
    expect(checkDepositData(deposit, parseForkVersion(FORK))).toBeUndefined();
  });

  it("import: copies keystores in, reports duplicates", async () => {
    const source = join(dir, "validator_keys");
    const words =
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    await createKeys({
      keysDir: source,
      mnemonic: words,
      password: "source password",
      kdf: "pbkdf2",
      workFactor: 1024,
    });
    const sourcePassword = join(dir, "source-password.txt");
    writeFileSync(sourcePassword, "source password");
    const run = await opengpu(
      "keys",
      "import",
      "--datadir",
      datadir,
      "--password-file",
      sourcePassword,
      source,
    );
    expect(run.code).toBe(0);
    expect(run.out.split("\n")[0]).toBe(`Imported 1 of 1 keystore into ${keysDir}`);
    expect(run.out).toContain(
      `  imported  ${pubkeyAt(words, 0)}  m/12381/3600/0/0/0  keystore-m_12381_3600_0_0_0-`,
    );
    const again = await opengpu(
      "keys",
      "import",
      "--datadir",
      datadir,
      "--password-file",
      sourcePassword,
      source,
      "--json",
    );
    expect((JSON.parse(again.out) as { results: { status: string }[] }).results.map((r) => r.status)).toEqual(
      ["duplicate"],
    );
    expect(JSON.parse((await opengpu("keys", "list", "--datadir", datadir, "--json")).out).keys.length).toBe(
      3,
    );
  });

  it("refuses bad input with clear errors and never echoes the password", async () => {
    const noDir = await opengpu("keys", "list");
    expect([noDir.code, noDir.err]).toEqual([
      2,
      "error: give --keys-dir DIR, or --datadir DIR for DIR/keys\n",
    ]);

    const noPassword = await opengpu("keys", "create", "--keys-dir", join(dir, "x"));
    expect(noPassword.code).toBe(1);
    expect(noPassword.err).toContain("required option '--password-file <file>' not specified");

    const weakFile = join(dir, "weak.txt");
    writeFileSync(weakFile, "abc");
    const weak = await opengpu("keys", "create", "--keys-dir", join(dir, "x"), "--password-file", weakFile);
    expect([weak.code, weak.err]).toEqual([
      1,
      "error: keystore passwords must be at least 8 characters long\n",
    ]);
    expect(existsSync(join(dir, "x"))).toBe(false);

    const wrongFile = join(dir, "wrong.txt");
    writeFileSync(wrongFile, "not the password");
    const wrong = await opengpu(
      "keys",
      "deposit-data",
      "--keys-dir",
      keysDir,
      "--password-file",
      wrongFile,
      "--fork-version",
      FORK,
      "--withdrawal-address",
      ADDRESS,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(
      new RegExp(`^error: ${keysDir}/keystore-m_12381_3600_\\d_0_0-\\d+(-\\d+)?\\.json: wrong password\n$`),
    );
    expect(wrong.err).not.toContain("not the password");

    const badFork = await opengpu(
      "keys",
      "deposit-data",
      "--keys-dir",
      keysDir,
      "--password-file",
      passwordFile,
      "--fork-version",
      "0x1234",
    );
    expect([badFork.code, badFork.err]).toEqual([
      1,
      "error: fork version 0x1234 is not 4 bytes of 0x-prefixed hex\n",
    ]);

    const badMnemonic = join(dir, "bad-mnemonic.txt");
    writeFileSync(badMnemonic, "one two three");
    const bad = await opengpu(
      "keys",
      "create",
      "--keys-dir",
      join(dir, "y"),
      "--password-file",
      passwordFile,
      "--mnemonic-file",
      badMnemonic,
    );
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^error: not a valid BIP-39 English mnemonic \(3 words;/);
    expect(bad.err).not.toContain("one two three");
  });

  it.each(["create", "import", "list", "deposit-data"])("%s --help", async (command) => {
    const run = await opengpu("keys", command, "--help");
    expect(run.code).toBe(0);
    expect(run.out).toContain(`Usage: opengpu keys ${command}`);
    expect(run.out).toContain("--keys-dir <dir>");
    if (command !== "list") expect(run.out).toContain("--password-file <file>");
  });

  it("works through bin/opengpu.js", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, "bin", "opengpu.js"), "keys", "list", "--keys-dir", keysDir, "--json"],
      { cwd: ROOT },
    );
    const listed = JSON.parse(stdout) as { keys: { pubkey: string }[] };
    expect(listed.keys.map((k) => k.pubkey)).toContain(pubkeyAt(mnemonic, 1));
  });
});
