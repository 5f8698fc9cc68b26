import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

const POINT_EVALUATION = "0x000000000000000000000000000000000000000a";
const BLS_MODULUS = 52435875175126190479447740508185965837690552500527637822603658699938581184513n;

/** Input of the EIP-4844 point-evaluation precompile for the zero polynomial (commitment = infinity). */
function zeroPolynomialInput(y: bigint): string {
  const commitment = Buffer.concat([Buffer.from([0xc0]), Buffer.alloc(47)]);
  const versionedHash = createHash("sha256").update(commitment).digest();
  versionedHash[0] = 0x01;
  const z = Buffer.alloc(32);
  const yBytes = Buffer.from(y.toString(16).padStart(64, "0"), "hex");
  return `0x${Buffer.concat([versionedHash, z, yBytes, commitment, commitment]).toString("hex")}`;
}

describe("Prague precompiles", () => {
  let dev: DevNodeHandle;
  beforeAll(async () => {
    dev = await startDevNode();
  });
  afterAll(async () => {
    await dev.stop();
  });

  it("verifies a valid KZG point evaluation (0x0a) and returns FIELD_ELEMENTS_PER_BLOB and the modulus", async () => {
    const out = await dev.call<string>("eth_call", [
      { to: POINT_EVALUATION, data: zeroPolynomialInput(0n) },
      "latest",
    ]);
    expect(out).toBe(
      `0x${4096n.toString(16).padStart(64, "0")}${BLS_MODULUS.toString(16).padStart(64, "0")}`,
    );
  });

  it("fails a wrong evaluation (the zero polynomial is not 1 at z = 0)", async () => {
    const response = await dev.rpc("eth_call", [
      { to: POINT_EVALUATION, data: zeroPolynomialInput(1n) },
      "latest",
    ]);
    expect(response.error?.code).toBe(-32000);
  });

  it("runs sha256 (0x02) and identity (0x04)", async () => {
    expect(
      await dev.call("eth_call", [
        { to: "0x0000000000000000000000000000000000000002", data: "0x" },
        "latest",
      ]),
    ).toBe("0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(
      await dev.call("eth_call", [
        { to: "0x0000000000000000000000000000000000000004", data: "0xdeadbeef" },
        "latest",
      ]),
    ).toBe("0xdeadbeef");
  });
});
