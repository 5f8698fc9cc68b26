/**
 * Compiles the Solidity fixtures in test/fixtures/contracts with the `solc` npm package
 * (standard JSON input, evmVersion "prague") and returns each contract's ABI and bytecode.
 * Compiled once per process.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import solc from "solc";

export interface CompiledContract {
  // biome-ignore lint/suspicious/noExplicitAny: solc's ABI JSON; tests narrow it with `as const` casts where needed
  abi: any[];
  bytecode: `0x${string}`;
  deployedBytecode: `0x${string}`;
}

const CONTRACTS_DIR = join(import.meta.dirname, "..", "fixtures", "contracts");

let cache: Record<string, CompiledContract> | undefined;

interface SolcOutput {
  errors?: { severity: "error" | "warning" | "info"; formattedMessage: string }[];
  contracts?: Record<
    string,
    Record<
      string,
      { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }
    >
  >;
}

/** All fixture contracts by contract name (Token, Reverter, Emitter, Factory, Child, Delegate). */
export function compileFixtures(): Record<string, CompiledContract> {
  if (cache !== undefined) return cache;
  const sources: Record<string, { content: string }> = {};
  for (const file of readdirSync(CONTRACTS_DIR)
    .filter((f) => f.endsWith(".sol"))
    .sort()) {
    sources[file] = { content: readFileSync(join(CONTRACTS_DIR, file), "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      evmVersion: "prague",
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join("\n")}`);
  const out: Record<string, CompiledContract> = {};
  for (const contracts of Object.values(output.contracts ?? {})) {
    for (const [name, c] of Object.entries(contracts)) {
      out[name] = {
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
      };
    }
  }
  cache = out;
  return out;
}
