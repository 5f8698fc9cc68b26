import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decrypt as libraryDecrypt } from "@chainsafe/bls-keystore";
import { SecretKey } from "@chainsafe/blst";
import { afterAll, describe, expect, it } from "vitest";
import { KeysErrorCode } from "./errors.ts";
import {
  decryptKeystore,
  encryptKeystore,
  keystoreFileName,
  keystorePubkey,
  normalizePassword,
  parseKeystore,
  readSecretFile,
} from "./keystore.ts";

const SECRET = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
const PUBKEY =
  "9612d7a727c9d0a22e185a1c768478dfe919cada9266988cb32359c11f2b7b27f4ae4040902382ae2910c15e2b420d07";
const EIP_PASSWORD = "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑";

/** The test vectors of EIP-2335. */
const EIP2335_SCRYPT = {
  crypto: {
    kdf: {
      function: "scrypt",
      params: {
        dklen: 32,
        n: 262144,
        p: 1,
        r: 8,
        salt: "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
      },
      message: "",
    },
    checksum: {
      function: "sha256",
      params: {},
      message: "d2217fe5f3e9a1e34581ef8a78f7c9928e436d36dacc5e846690a5581e8ea484",
    },
    cipher: {
      function: "aes-128-ctr",
      params: { iv: "264daa3f303d7259501c93d997d84fe6" },
      message: "06ae90d55fe0a6e9c5c3bc5b170827b2e5cce3929ed3f116c2811e6366dfe20f",
    },
  },
  description: "This is a test keystore that uses scrypt to secure the secret.",
  pubkey: PUBKEY,
  path: "m/12381/60/3141592653/589793238",
  uuid: "1d85ae20-35c5-4611-98e8-aa14a633906f",
  version: 4,
};
const EIP2335_PBKDF2 = {
  crypto: {
    kdf: {
      function: "pbkdf2",
      params: {
        dklen: 32,
        c: 262144,
        prf: "hmac-sha256",
        salt: "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
      },
      message: "",
    },
    checksum: {
      function: "sha256",
      params: {},
      message: "8a9f5d9912ed7e75ea794bc5a89bca5f193721d30868ade6f73043c6ea6febf1",
    },
    cipher: {
      function: "aes-128-ctr",
      params: { iv: "264daa3f303d7259501c93d997d84fe6" },
      message: "cee03fde2af33149775b7223e7845e4fb2c8ae1792e5f99fe9ecf474cc8c16ad",
    },
  },
  description: "This is a test keystore that uses PBKDF2 to secure the secret.",
  pubkey: PUBKEY,
  path: "m/12381/60/0/0",
  uuid: "64625def-3331-4eea-ab6f-782f3ed16a83",
  version: 4,
};

const dir = mkdtempSync(join(tmpdir(), "opengpu-keystore-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const secretKey = SecretKey.fromHex(`0x${SECRET}`);

describe("EIP-2335 test vectors", () => {
  it("normalizes the test password to its encoded form", () => {
    expect(Buffer.from(normalizePassword(EIP_PASSWORD)).toString("hex")).toBe(
      "7465737470617373776f7264f09f9491",
    );
    expect(Buffer.from(normalizePassword("pass\u0000word\u007f\u0085\n")).toString()).toBe("password");
  });

  it.each([
    ["scrypt", EIP2335_SCRYPT],
    ["pbkdf2", EIP2335_PBKDF2],
  ])("decrypts the %s vector", async (_name, vector) => {
    const keystore = parseKeystore(JSON.stringify(vector), "vector");
    const key = await decryptKeystore(keystore, EIP_PASSWORD, "vector");
    expect(key.toHex()).toBe(`0x${SECRET}`);
    expect(keystorePubkey(keystore)).toBe(`0x${PUBKEY}`);
    await expect(decryptKeystore(keystore, "testpassword", "vector")).rejects.toMatchObject({
      code: KeysErrorCode.WRONG_PASSWORD,
      message: "vector: wrong password",
    });
  });
});

describe("keystore round trip", () => {
  it.each(["pbkdf2", "scrypt"] as const)("encrypts with %s and decrypts to the same key", async (kdf) => {
    const keystore = await encryptKeystore(secretKey, "correct horse battery", "m/12381/3600/0/0/0", {
      kdf,
      workFactor: 1024,
    });
    expect(keystore.version).toBe(4);
    expect(keystore.path).toBe("m/12381/3600/0/0/0");
    expect(keystore.pubkey).toBe(PUBKEY);
    expect(keystore.crypto.kdf.function).toBe(kdf);
    expect(keystore.crypto.cipher.function).toBe("aes-128-ctr");
    const parsed = parseKeystore(JSON.stringify(keystore), "file");
    expect((await decryptKeystore(parsed, "correct horse battery", "file")).toHex()).toBe(`0x${SECRET}`);
    // The library's own decryption agrees with ours.
    expect(Buffer.from(await libraryDecrypt(parsed, "correct horse battery")).toString("hex")).toBe(SECRET);
  });

  it("uses EIP-2335's work factor by default", async () => {
    const keystore = await encryptKeystore(secretKey, "correct horse battery", "m/12381/3600/0/0/0", {
      kdf: "pbkdf2",
    });
    expect(keystore.crypto.kdf.params).toMatchObject({ c: 262144, dklen: 32, prf: "hmac-sha256" });
  });

  it("refuses short passwords for new keystores", async () => {
    await expect(encryptKeystore(secretKey, "short", "m")).rejects.toMatchObject({
      code: KeysErrorCode.WEAK_PASSWORD,
    });
    // Control characters do not count.
    await expect(encryptKeystore(secretKey, "1234567\n", "m")).rejects.toMatchObject({
      code: KeysErrorCode.WEAK_PASSWORD,
    });
  });

  it("detects a keystore whose pubkey is not its secret's", async () => {
    const keystore = await encryptKeystore(secretKey, "correct horse battery", "m", {
      kdf: "pbkdf2",
      workFactor: 16,
    });
    const other = SecretKey.fromKeygen(new Uint8Array(32).fill(1)).toPublicKey().toHex().slice(2);
    await expect(
      decryptKeystore({ ...keystore, pubkey: other }, "correct horse battery", "f"),
    ).rejects.toMatchObject({
      code: KeysErrorCode.PUBKEY_MISMATCH,
    });
  });
});

describe("parsing", () => {
  it.each([
    ["not JSON", "{"],
    ["not a keystore", JSON.stringify({ hello: 1 })],
    [
      "scrypt n too large",
      JSON.stringify({
        ...EIP2335_SCRYPT,
        crypto: {
          ...EIP2335_SCRYPT.crypto,
          kdf: { ...EIP2335_SCRYPT.crypto.kdf, params: { ...EIP2335_SCRYPT.crypto.kdf.params, n: 2 ** 22 } },
        },
      }),
    ],
    [
      "scrypt n not a power of two",
      JSON.stringify({
        ...EIP2335_SCRYPT,
        crypto: {
          ...EIP2335_SCRYPT.crypto,
          kdf: { ...EIP2335_SCRYPT.crypto.kdf, params: { ...EIP2335_SCRYPT.crypto.kdf.params, n: 1000 } },
        },
      }),
    ],
    ["short pubkey", JSON.stringify({ ...EIP2335_SCRYPT, pubkey: "9612" })],
    ["version 3", JSON.stringify({ ...EIP2335_SCRYPT, version: 3 })],
  ])("refuses %s", (_name, text) => {
    expect(() => parseKeystore(text, "k.json")).toThrow(
      expect.objectContaining({ code: KeysErrorCode.INVALID_KEYSTORE }),
    );
  });

  it("names files as the staking-deposit-cli does", () => {
    const keystore = parseKeystore(JSON.stringify({ ...EIP2335_PBKDF2, path: "m/12381/3600/3/0/0" }), "k");
    expect(keystoreFileName(keystore, 1700000000)).toBe("keystore-m_12381_3600_3_0_0-1700000000.json");
    expect(keystoreFileName({ ...keystore, path: "" }, 1700000000)).toBe(
      "keystore-9612d7a727c9d0a2-1700000000.json",
    );
  });
});

describe("password files", () => {
  it("drops trailing line breaks only", () => {
    const file = join(dir, "pw");
    writeFileSync(file, " secret password \r\n");
    expect(readSecretFile(file)).toBe(" secret password ");
  });

  it("refuses missing and empty files without leaking contents", () => {
    expect(() => readSecretFile(join(dir, "missing"))).toThrow(
      expect.objectContaining({
        code: KeysErrorCode.SECRET_FILE,
        message: `cannot read password file ${join(dir, "missing")} (ENOENT)`,
      }),
    );
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n");
    expect(() => readSecretFile(empty)).toThrow(expect.objectContaining({ code: KeysErrorCode.SECRET_FILE }));
  });
});
