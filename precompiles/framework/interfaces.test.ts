/** The committed ABIs (abi.ts, abi.json) are what the Solidity interfaces compile to. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { abiPaths, compileInterface, SYSTEM_INTERFACES } from "./interfaces.ts";

describe("system contract interfaces", () => {
  for (const i of SYSTEM_INTERFACES) {
    it(`${i.name}: abi.json and abi.ts are up to date (run scripts/compile-interfaces.ts)`, async () => {
      const { abi } = compileInterface(i);
      const paths = abiPaths(i);
      expect(JSON.parse(readFileSync(paths.json, "utf8"))).toEqual(abi);
      const module = (await import(paths.ts)) as Record<string, unknown>;
      expect(JSON.parse(JSON.stringify(module[i.constant]))).toEqual(abi);
    });
  }
});
