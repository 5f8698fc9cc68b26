import { SecretKey } from "@chainsafe/blst";
import { describe, expect, it } from "vitest";
import {
  deriveSecretKey,
  mnemonicToSeed,
  newMnemonic,
  normalizeMnemonic,
  parsePath,
  signingKeyPath,
  validatorIndexOfSigningPath,
  withdrawalKeyPath,
} from "./derivation.ts";
import { KeysErrorCode } from "./errors.ts";

const toBig = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "hex"));

/** The test cases of EIP-2333 (seed, master_SK, child_index, child_SK). */
const EIP2333_CASES = [
  {
    seed: "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
    master: 6083874454709270928345386274498605044986640685124978867557563392430687146096n,
    index: 0,
    child: 20397789859736650942317412262472558107875392172444076792671091975210932703118n,
  },
  {
    seed: "3141592653589793238462643383279502884197169399375105820974944592",
    master: 29757020647961307431480504535336562678282505419141012933316116377660817309383n,
    index: 3141592653,
    child: 25457201688850691947727629385191704516744796114925897962676248250929345014287n,
  },
  {
    seed: "0099FF991111002299DD7744EE3355BBDD8844115566CC55663355668888CC00",
    master: 27580842291869792442942448775674722299803720648445448686099262467207037398656n,
    index: 4294967295,
    child: 29358610794459428860402234341874281240803786294062035874021252734817515685787n,
  },
  {
    seed: "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
    master: 19022158461524446591288038168518313374041767046816487870552872741050760015818n,
    index: 42,
    child: 31372231650479070279774297061823572166496564838472787488249775572789064611981n,
  },
];

describe("EIP-2333 derivation", () => {
  it.each(EIP2333_CASES)("matches test vector with child index $index", ({ seed, master, index, child }) => {
    expect(toBig(deriveSecretKey(hex(seed), "m").toBytes())).toBe(master);
    expect(toBig(deriveSecretKey(hex(seed), `m/${index}`).toBytes())).toBe(child);
  });

  it("derives test case 0's seed from its BIP-39 mnemonic and passphrase", () => {
    const seed = mnemonicToSeed(
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
      "TREZOR",
    );
    expect(Buffer.from(seed).toString("hex")).toBe(EIP2333_CASES[0].seed);
    expect(toBig(deriveSecretKey(seed, "m/0").toBytes())).toBe(EIP2333_CASES[0].child);
  });

  it("walks a path one hardened child at a time", () => {
    const seed = hex(EIP2333_CASES[3].seed);
    let key = SecretKey.deriveMasterEip2333(seed);
    for (const i of [12381, 3600, 7, 0, 0]) key = key.deriveChildEip2333(i);
    expect(deriveSecretKey(seed, signingKeyPath(7)).toHex()).toBe(key.toHex());
    expect(deriveSecretKey(seed, withdrawalKeyPath(7)).toHex()).not.toBe(key.toHex());
  });

  it("refuses seeds shorter than 32 bytes", () => {
    expect(() => deriveSecretKey(new Uint8Array(31), "m")).toThrow(
      expect.objectContaining({ code: KeysErrorCode.INVALID_PATH }),
    );
  });
});

describe("EIP-2334 paths", () => {
  it("names signing and withdrawal keys", () => {
    expect(signingKeyPath(0)).toBe("m/12381/3600/0/0/0");
    expect(withdrawalKeyPath(5)).toBe("m/12381/3600/5/0");
    expect(validatorIndexOfSigningPath("m/12381/3600/12/0/0")).toBe(12);
    expect(validatorIndexOfSigningPath("m/12381/3600/12/0")).toBeUndefined();
    expect(validatorIndexOfSigningPath("m/12381/60/0/0")).toBeUndefined();
  });

  it("parses and validates paths", () => {
    expect(parsePath("m")).toEqual([]);
    expect(parsePath("m/12381/3600/4294967295/0/0")).toEqual([12381, 3600, 4294967295, 0, 0]);
    for (const bad of ["", "x/1", "m/", "m/1/-2", "m/4294967296", "m/1a"]) {
      expect(() => parsePath(bad)).toThrow(expect.objectContaining({ code: KeysErrorCode.INVALID_PATH }));
    }
    expect(() => signingKeyPath(-1)).toThrow(expect.objectContaining({ code: KeysErrorCode.INVALID_PATH }));
  });
});

describe("mnemonics", () => {
  it("generates 24-word English mnemonics that validate", () => {
    const mnemonic = newMnemonic();
    expect(mnemonic.split(" ").length).toBe(24);
    expect(normalizeMnemonic(mnemonic)).toBe(mnemonic);
    expect(newMnemonic()).not.toBe(mnemonic);
  });

  it("normalizes case and whitespace", () => {
    const words =
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    expect(normalizeMnemonic(`  ${words.toUpperCase().replaceAll(" ", " \n\t")}\n`)).toBe(words);
  });

  it("refuses a bad checksum or an unknown word without echoing the words", () => {
    for (const bad of [
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon",
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon zzzz",
      "abandon about",
    ]) {
      let error: unknown;
      try {
        normalizeMnemonic(bad);
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ code: KeysErrorCode.INVALID_MNEMONIC });
      expect((error as Error).message).not.toContain("abandon");
    }
  });
});
