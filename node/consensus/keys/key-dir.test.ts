import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ValidatorKey } from "../validator/validator.ts";
import { deriveSecretKey, mnemonicToSeed, signingKeyPath } from "./derivation.ts";
import { KeysErrorCode } from "./errors.ts";
import {
  createKeys,
  importKeystores,
  listKeys,
  loadValidatorKeys,
  loadValidatorKeysWithPasswordFile,
} from "./key-dir.ts";

const MNEMONIC = "test test test test test test test test test test test junk";
const SEED = mnemonicToSeed(MNEMONIC);
const pubkeyAt = (i: number) => deriveSecretKey(SEED, signingKeyPath(i)).toPublicKey().toHex();
const FAST = { kdf: "pbkdf2" as const, workFactor: 1024 };
const PASSWORD = "validator password";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "opengpu-keydir-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("create and list", () => {
  it("writes one keystore per validator, named and protected as the staking-deposit-cli does", async () => {
    const keysDir = join(dir, "keys");
    const created = await createKeys({
      keysDir,
      mnemonic: MNEMONIC,
      password: PASSWORD,
      count: 3,
      startIndex: 2,
      now: 1700000000,
      ...FAST,
    });
    expect(created.map((k) => [k.index, k.path, k.pubkey])).toEqual([
      [2, "m/12381/3600/2/0/0", pubkeyAt(2)],
      [3, "m/12381/3600/3/0/0", pubkeyAt(3)],
      [4, "m/12381/3600/4/0/0", pubkeyAt(4)],
    ]);
    expect(readdirSync(keysDir).sort()).toEqual([
      "keystore-m_12381_3600_2_0_0-1700000000.json",
      "keystore-m_12381_3600_3_0_0-1700000000.json",
      "keystore-m_12381_3600_4_0_0-1700000000.json",
    ]);
    expect(statSync(keysDir).mode & 0o777).toBe(0o700);
    expect(statSync(created[0].file).mode & 0o777).toBe(0o600);
    const json = JSON.parse(readFileSync(created[0].file, "utf8")) as Record<string, unknown>;
    expect(json).toMatchObject({ version: 4, path: "m/12381/3600/2/0/0", pubkey: pubkeyAt(2).slice(2) });
    expect(JSON.stringify(json)).not.toContain(PASSWORD);

    const listed = listKeys(keysDir);
    expect(listed.map((k) => [k.pubkey, k.path])).toEqual([
      [pubkeyAt(2), "m/12381/3600/2/0/0"],
      [pubkeyAt(3), "m/12381/3600/3/0/0"],
      [pubkeyAt(4), "m/12381/3600/4/0/0"],
    ]);
    expect(listed[0].uuid).toBe(json.uuid);
  });

  it("refuses to create a key that is already there", async () => {
    const keysDir = join(dir, "keys");
    await createKeys({ keysDir, mnemonic: MNEMONIC, password: PASSWORD, count: 2, ...FAST });
    await expect(
      createKeys({ keysDir, mnemonic: MNEMONIC, password: PASSWORD, count: 2, startIndex: 1, ...FAST }),
    ).rejects.toMatchObject({ code: KeysErrorCode.KEY_EXISTS, meta: { pubkey: pubkeyAt(1) } });
    expect(readdirSync(keysDir).length).toBe(2);
  });

  it("ignores other files and lists nothing for a missing directory", async () => {
    expect(listKeys(join(dir, "none"))).toEqual([]);
    const keysDir = join(dir, "keys");
    await createKeys({ keysDir, mnemonic: MNEMONIC, password: PASSWORD, ...FAST });
    writeFileSync(join(keysDir, "deposit_data-1.json"), "[]");
    writeFileSync(join(keysDir, "notes.txt"), "x");
    expect(listKeys(keysDir).length).toBe(1);
  });
});

describe("import", () => {
  it("imports keystores (files or a directory), skipping keys already present", async () => {
    const source = join(dir, "validator_keys");
    await createKeys({ keysDir: source, mnemonic: MNEMONIC, password: PASSWORD, count: 2, now: 1, ...FAST });
    writeFileSync(join(source, "deposit_data-1.json"), "[]");
    const keysDir = join(dir, "node", "keys");
    const first = await importKeystores({ keysDir, sources: [source], password: PASSWORD, now: 2 });
    expect(first.map((r) => [r.status, r.pubkey, r.path])).toEqual([
      ["imported", pubkeyAt(0), "m/12381/3600/0/0/0"],
      ["imported", pubkeyAt(1), "m/12381/3600/1/0/0"],
    ]);
    expect(readdirSync(keysDir).sort()).toEqual([
      "keystore-m_12381_3600_0_0_0-1.json",
      "keystore-m_12381_3600_1_0_0-1.json",
    ]);
    expect(statSync(first[0].file).mode & 0o777).toBe(0o600);
    // Byte-for-byte copies.
    expect(readFileSync(first[0].file, "utf8")).toBe(readFileSync(first[0].source, "utf8"));
    const again = await importKeystores({ keysDir, sources: [first[1].source], password: PASSWORD });
    expect(again.map((r) => [r.status, r.file])).toEqual([["duplicate", first[1].file]]);
  });

  it("re-encrypts with the key directory's password when asked", async () => {
    const source = join(dir, "src");
    const [key] = await createKeys({ keysDir: source, mnemonic: MNEMONIC, password: PASSWORD, ...FAST });
    const keysDir = join(dir, "keys");
    const [result] = await importKeystores({
      keysDir,
      sources: [key.file],
      password: PASSWORD,
      newPassword: "the node's own password",
      encrypt: FAST,
    });
    expect(result.status).toBe("imported");
    const loaded = await loadValidatorKeys(keysDir, "the node's own password");
    expect(loaded.map((k) => k.pubkeyHex)).toEqual([pubkeyAt(0)]);
    await expect(loadValidatorKeys(keysDir, PASSWORD)).rejects.toMatchObject({
      code: KeysErrorCode.WRONG_PASSWORD,
    });
  });

  it("stops before writing anything when a keystore does not open", async () => {
    const a = join(dir, "a");
    const b = join(dir, "b");
    await createKeys({ keysDir: a, mnemonic: MNEMONIC, password: PASSWORD, ...FAST });
    await createKeys({
      keysDir: b,
      mnemonic: MNEMONIC,
      password: "another password",
      startIndex: 1,
      ...FAST,
    });
    const keysDir = join(dir, "keys");
    await expect(importKeystores({ keysDir, sources: [a, b], password: PASSWORD })).rejects.toMatchObject({
      code: KeysErrorCode.WRONG_PASSWORD,
    });
    expect(listKeys(keysDir)).toEqual([]);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '{"version": 4}');
    await expect(importKeystores({ keysDir, sources: [bad], password: PASSWORD })).rejects.toMatchObject({
      code: KeysErrorCode.INVALID_KEYSTORE,
    });
    await expect(
      importKeystores({ keysDir, sources: [join(dir, "nope")], password: PASSWORD }),
    ).rejects.toMatchObject({
      code: KeysErrorCode.INVALID_KEYSTORE,
    });
  });

  it("names imported files that do not look like keystores after their path", async () => {
    const source = join(dir, "src");
    const [key] = await createKeys({ keysDir: source, mnemonic: MNEMONIC, password: PASSWORD, ...FAST });
    mkdirSync(join(dir, "other"));
    const renamed = join(dir, "other", "my-validator.json");
    writeFileSync(renamed, readFileSync(key.file));
    const [result] = await importKeystores({
      keysDir: join(dir, "keys"),
      sources: [renamed],
      password: PASSWORD,
      now: 5,
    });
    expect(result.file).toBe(join(dir, "keys", "keystore-m_12381_3600_0_0_0-5.json"));
  });
});

describe("load", () => {
  it("decrypts every key for the validator client", async () => {
    const keysDir = join(dir, "keys");
    await createKeys({ keysDir, mnemonic: MNEMONIC, password: PASSWORD, count: 5, ...FAST });
    const keys = await loadValidatorKeys(keysDir, PASSWORD, { concurrency: 3 });
    expect(keys.map((k) => k.pubkeyHex)).toEqual([0, 1, 2, 3, 4].map(pubkeyAt));
    expect(keys.map((k) => k.path)).toEqual([0, 1, 2, 3, 4].map(signingKeyPath));
    expect(keys[2].secretKey.toHex()).toBe(deriveSecretKey(SEED, signingKeyPath(2)).toHex());
    expect(Buffer.from(keys[2].pubkey).toString("hex")).toBe(pubkeyAt(2).slice(2));
  });

  it("reads the password from a file and yields keys the validator client takes as they are", async () => {
    const keysDir = join(dir, "keys");
    await createKeys({ keysDir, mnemonic: MNEMONIC, password: PASSWORD, count: 2, ...FAST });
    const passwordFile = join(dir, "password.txt");
    writeFileSync(passwordFile, `${PASSWORD}\n`);
    const keys: ValidatorKey[] = await loadValidatorKeysWithPasswordFile(keysDir, passwordFile);
    expect(keys.map((k) => `0x${Buffer.from(k.pubkey).toString("hex")}`)).toEqual([pubkeyAt(0), pubkeyAt(1)]);
    await expect(loadValidatorKeysWithPasswordFile(keysDir, join(dir, "none"))).rejects.toMatchObject({
      code: KeysErrorCode.SECRET_FILE,
    });
  });

  it("fails on any keystore the password does not open, naming it and not the password", async () => {
    const keysDir = join(dir, "keys");
    await createKeys({ keysDir, mnemonic: MNEMONIC, password: PASSWORD, ...FAST });
    const err = await loadValidatorKeys(keysDir, "wrong password!").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: KeysErrorCode.WRONG_PASSWORD });
    expect((err as Error).message).toBe(`${listKeys(keysDir)[0].file}: wrong password`);
    expect(await loadValidatorKeys(join(dir, "missing"), PASSWORD)).toEqual([]);
  });
});
