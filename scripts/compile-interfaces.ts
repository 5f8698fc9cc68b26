/**
 * Regenerates the system contracts' ABIs (precompiles/<contract>/abi.ts and abi.json) from
 * their Solidity interfaces. Run after editing an interface:
 *
 *   node scripts/compile-interfaces.ts
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  abiPaths,
  compileInterface,
  renderAbiModule,
  SYSTEM_INTERFACES,
} from "../precompiles/framework/interfaces.ts";

const written: string[] = [];
for (const i of SYSTEM_INTERFACES) {
  const { abi, compilerVersion } = compileInterface(i);
  const paths = abiPaths(i);
  writeFileSync(paths.ts, renderAbiModule(i, abi, compilerVersion));
  writeFileSync(paths.json, `${JSON.stringify(abi, null, 2)}\n`);
  written.push(paths.ts, paths.json);
  process.stdout.write(`${i.name}: ${abi.length} ABI entries\n`);
}
const biome = join(import.meta.dirname, "..", "node_modules", ".bin", "biome");
const formatted = spawnSync(biome, ["format", "--write", ...written], { stdio: "inherit" });
process.exit(formatted.status ?? 1);
