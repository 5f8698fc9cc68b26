/**
 * The committed deposit-contract artifact is what DepositContract.sol compiles to, and its ABI is
 * the Ethereum deposit contract's interface (selectors, event topic, ERC-165 id) staking tools use.
 */
import { keccak256, toFunctionSelector, toHex } from "viem";
import { describe, expect, it } from "vitest";
import { compileDepositContract } from "./compile.ts";
import {
  DEPOSIT_CONTRACT_ABI,
  DEPOSIT_CONTRACT_CODE,
  DEPOSIT_CONTRACT_COMPILER,
  DEPOSIT_CONTRACT_INTERFACE_ID,
  DEPOSIT_EVENT_TOPIC,
} from "./index.ts";

describe("deposit contract artifact", () => {
  it("is up to date: recompiling DepositContract.sol gives the committed bytecode and ABI", () => {
    const compiled = compileDepositContract();
    expect(compiled.compilerVersion).toBe(DEPOSIT_CONTRACT_COMPILER);
    expect(compiled.runtimeCode, "run `node scripts/compile-deposit-contract.ts`").toBe(
      DEPOSIT_CONTRACT_CODE,
    );
    expect(compiled.abi).toEqual(DEPOSIT_CONTRACT_ABI);
  });

  it("has the Ethereum deposit contract's selectors, event topic and ERC-165 interface id", () => {
    const selectors = DEPOSIT_CONTRACT_ABI.filter((item) => item.type === "function").map((item) =>
      toFunctionSelector(item),
    );
    expect(selectors.sort()).toEqual(["0x01ffc9a7", "0x22895118", "0x621fd130", "0xc5f2892f"]);
    const event = DEPOSIT_CONTRACT_ABI.find((item) => item.type === "event");
    expect(event?.name).toBe("DepositEvent");
    expect(keccak256(toHex("DepositEvent(bytes,bytes,bytes,bytes,bytes)"))).toBe(DEPOSIT_EVENT_TOPIC);
    // deposit ^ get_deposit_root ^ get_deposit_count
    const id = 0x22895118 ^ 0xc5f2892f ^ 0x621fd130;
    expect(`0x${(id >>> 0).toString(16).padStart(8, "0")}`).toBe(DEPOSIT_CONTRACT_INTERFACE_ID);
    // The dispatcher answers both ERC-165 ids (checked on-chain in test/staking).
    expect(DEPOSIT_CONTRACT_CODE).toContain("6301ffc9a7");
    expect(DEPOSIT_CONTRACT_CODE).toContain(`63${DEPOSIT_CONTRACT_INTERFACE_ID.slice(2)}`);
  });
});
