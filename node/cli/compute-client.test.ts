/**
 * The compute CLI's own parsing: Ethereum V3 keystores (the Web3 Secret Storage test vectors for
 * PBKDF2 and scrypt, keystores written by ethers, wrong passwords, hostile parameters), oGPU
 * amounts, verification policies and the mapping of input files to a model's inputs.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encryptKeystoreJson, Wallet } from "ethers";
import { afterAll, describe, expect, it } from "vitest";
import { writeNpy } from "../compute-layer/runtime/index.ts";
import { ComputeCliError, decryptV3Keystore, parseAmount } from "./compute-client.ts";
import { parsePolicy, readInputs } from "./task.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** https://ethereum.org/developers/docs/data-structures-and-encoding/web3-secret-storage/#test-vectors */
const VECTOR_KEY = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";
const PBKDF2_VECTOR = {
  crypto: {
    cipher: "aes-128-ctr",
    cipherparams: { iv: "6087dab2f9fdbbfaddc31a909735c1e6" },
    ciphertext: "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
    kdf: "pbkdf2",
    kdfparams: {
      c: 262144,
      dklen: 32,
      prf: "hmac-sha256",
      salt: "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd",
    },
    mac: "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
  },
  id: "3198bc9c-6672-5ab3-d995-4942343ae5b6",
  version: 3,
};
const SCRYPT_VECTOR = {
  crypto: {
    cipher: "aes-128-ctr",
    cipherparams: { iv: "83dbcc02d8ccb40e466191a123791e0e" },
    ciphertext: "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
    kdf: "scrypt",
    kdfparams: {
      dklen: 32,
      n: 262144,
      p: 8,
      r: 1,
      salt: "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19",
    },
    mac: "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097",
  },
  id: "3198bc9c-6672-5ab3-d995-4942343ae5b6",
  version: 3,
};

describe("V3 keystores", () => {
  it("decrypts the Web3 Secret Storage test vectors (PBKDF2 and scrypt)", async () => {
    expect(hex(await decryptV3Keystore(JSON.stringify(PBKDF2_VECTOR), "testpassword", "pbkdf2.json"))).toBe(
      VECTOR_KEY,
    );
    expect(hex(await decryptV3Keystore(JSON.stringify(SCRYPT_VECTOR), "testpassword", "scrypt.json"))).toBe(
      VECTOR_KEY,
    );
  }, 30_000);

  it("refuses a wrong password without revealing it", async () => {
    const err = await decryptV3Keystore(JSON.stringify(PBKDF2_VECTOR), "hunter2", "k.json").catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ComputeCliError);
    expect((err as ComputeCliError).code).toBe("COMPUTE_CLI_SIGNER");
    expect((err as Error).message).toBe("k.json: wrong password (the keystore's MAC does not match)");
  });

  it("decrypts keystores written by ethers, NFKC passwords included", async () => {
    const wallet = Wallet.createRandom();
    for (const password of ["plain ascii", "ﬁnance"]) {
      const json = await encryptKeystoreJson(
        { address: wallet.address, privateKey: wallet.privateKey },
        password,
        { scrypt: { N: 1024 } },
      );
      expect(`0x${hex(await decryptV3Keystore(json, password, "ethers.json"))}`).toBe(wallet.privateKey);
    }
  });

  it("refuses malformed and hostile keystores", async () => {
    const cases: [unknown, string][] = [
      ["not json", "f.json: not a JSON keystore"],
      [{ ...PBKDF2_VECTOR, version: 4 }, "f.json: not an Ethereum V3 keystore (version must be 3)"],
      [{ version: 3 }, "f.json: not a V3 keystore: no crypto section"],
      [
        { ...PBKDF2_VECTOR, crypto: { ...PBKDF2_VECTOR.crypto, cipher: "aes-256-cbc" } },
        "f.json: unsupported cipher aes-256-cbc (aes-128-ctr is supported)",
      ],
      [
        { ...PBKDF2_VECTOR, crypto: { ...PBKDF2_VECTOR.crypto, mac: "zz" } },
        "f.json: not a V3 keystore: mac is not hex",
      ],
      [
        { ...PBKDF2_VECTOR, crypto: { ...PBKDF2_VECTOR.crypto, kdf: "argon2" } },
        "f.json: unsupported kdf argon2 (scrypt and pbkdf2 are supported)",
      ],
      [
        {
          ...SCRYPT_VECTOR,
          crypto: { ...SCRYPT_VECTOR.crypto, kdfparams: { ...SCRYPT_VECTOR.crypto.kdfparams, n: 2 ** 30 } },
        },
        "f.json: keystore n 1073741824 is out of range (1 to 1048576)",
      ],
      [
        {
          ...SCRYPT_VECTOR,
          crypto: {
            ...SCRYPT_VECTOR.crypto,
            kdfparams: { ...SCRYPT_VECTOR.crypto.kdfparams, n: 2 ** 20, r: 64 },
          },
        },
        "f.json: scrypt parameters need more than 1 GiB",
      ],
      [
        {
          ...PBKDF2_VECTOR,
          crypto: {
            ...PBKDF2_VECTOR.crypto,
            kdfparams: { ...PBKDF2_VECTOR.crypto.kdfparams, prf: "hmac-sha512" },
          },
        },
        "f.json: unsupported pbkdf2 prf hmac-sha512 (hmac-sha256 is supported)",
      ],
    ];
    for (const [keystore, message] of cases) {
      const text = typeof keystore === "string" ? keystore : JSON.stringify(keystore);
      await expect(decryptV3Keystore(text, "testpassword", "f.json")).rejects.toThrow(message);
    }
  });
});

describe("amounts", () => {
  it("parses decimal oGPU to wei", () => {
    expect(parseAmount("1.5", "--x")).toBe(15n * 10n ** 17n);
    expect(parseAmount(" 100 ", "--x")).toBe(100n * 10n ** 18n);
    expect(parseAmount("0.000000000000000001", "--x")).toBe(1n);
    expect(parseAmount("0", "--x")).toBe(0n);
  });

  it("names the flag in its errors", () => {
    expect(() => parseAmount("1.", "--stake")).toThrow(
      '--stake: "1." is not an oGPU amount (a decimal number such as 1.5)',
    );
    expect(() => parseAmount("-1", "--stake")).toThrow("is not an oGPU amount");
    expect(() => parseAmount("1e18", "--stake")).toThrow("is not an oGPU amount");
    expect(() => parseAmount("0.0000000000000000001", "--stake")).toThrow(
      "--stake: 0.0000000000000000001 has more than 18 decimals",
    );
  });
});

describe("policies", () => {
  it("parses exact, int8-exact and tolerance policies", () => {
    expect(parsePolicy("exact")).toEqual({ kind: "exact" });
    expect(parsePolicy("int8-exact")).toEqual({ kind: "int8-exact" });
    expect(parsePolicy("tolerance:1e-3:1e-5:1")).toEqual({
      kind: "tolerance",
      rtol: 0.001,
      atol: 0.00001,
      topK: 1,
    });
  });

  it("refuses malformed policies", () => {
    expect(() => parsePolicy("tolerance:1e-3:1e-5")).toThrow(
      "expected exact, int8-exact or tolerance:RTOL:ATOL:TOPK",
    );
    expect(() => parsePolicy("tolerance:1e-3:1e-5:300")).toThrow("topK must be an integer 0..255, got 300");
    expect(() => parsePolicy("tolerance:-1:0:0")).toThrow("rtol must be a finite number >= 0, got -1");
    expect(() => parsePolicy("tolerance:1e-12:0:0")).toThrow("is not a whole number of parts per billion");
  });
});

describe("input files", () => {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-inputs-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const two = [
    { name: "a", dtype: "float32" as const, dims: [-1, 2] },
    { name: "b", dtype: "float32" as const, dims: [3] },
  ];

  it("maps named files to a model's inputs, .npy or raw float32 with a named shape", () => {
    const a = join(dir, "a.npy");
    writeFileSync(
      a,
      writeNpy({
        name: "ignored",
        dtype: "float32",
        dims: [1, 2],
        data: new Uint8Array(new Float32Array([1, 2]).buffer),
      }),
    );
    const b = join(dir, "b.f32");
    writeFileSync(b, new Uint8Array(new Float32Array([3, 4, 5]).buffer));
    const tensors = readInputs([`a=${a}`, `b=${b}`], ["b=3"], two);
    expect(tensors.map((t) => [t.name, t.dims])).toEqual([
      ["a", [1, 2]],
      ["b", [3]],
    ]);
    expect(() => readInputs([a], [], two)).toThrow(
      "the model has 2 inputs (a, b): name each file, --input NAME=FILE",
    );
    expect(() => readInputs([`a=${a}`], [], two)).toThrow('input "b" is missing');
    expect(() => readInputs([`a=${a}`, `a=${a}`], [], two)).toThrow("input a is given twice");
    expect(() => readInputs([`a=${a}`, `b=${b}`], ["b=3", "c=1"], two)).toThrow(
      "--input-shape for c, which has no --input",
    );
    expect(() => readInputs([`a=${a}`, `b=${b}`], ["a=1,3", "b=3"], two)).toThrow(
      "is a .npy array of shape [1,2], not --input-shape 1,3",
    );
    expect(() => readInputs([`a=${join(dir, "missing.npy")}`], [], two)).toThrow("cannot read input file");
  });
});
