/**
 * Regenerates precompiles/deposit/artifact.ts (the deposit contract's runtime bytecode and ABI)
 * from precompiles/deposit/DepositContract.sol. Run after editing the contract:
 *
 *   node scripts/compile-deposit-contract.ts
 *
 * The genesis of every OpenGPU network embeds this bytecode, so changing it changes genesis
 * hashes; precompiles/deposit/deposit-contract.test.ts fails while the artifact is stale.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  compileDepositContract,
  DEPOSIT_ARTIFACT_PATH,
  renderDepositArtifact,
} from "../precompiles/deposit/compile.ts";

const compiled = compileDepositContract();
writeFileSync(DEPOSIT_ARTIFACT_PATH, renderDepositArtifact(compiled));
const biome = join(import.meta.dirname, "..", "node_modules", ".bin", "biome");
const formatted = spawnSync(biome, ["format", "--write", DEPOSIT_ARTIFACT_PATH], { stdio: "inherit" });
if (formatted.status !== 0) process.exit(formatted.status ?? 1);
process.stdout.write(
  `wrote ${DEPOSIT_ARTIFACT_PATH}: ${(compiled.runtimeCode.length - 2) / 2} bytes of runtime code, solc ${compiled.compilerVersion}\n`,
);
