/**
 * Network definitions and the genesis builder.
 *
 * `resolveGenesis` turns either genesis format into the canonical geth-style genesis the
 * execution layer initialises from; `devnetGenesis` is the network `opengpu dev` runs.
 */
import { readFileSync } from "node:fs";
import { resolveGenesis } from "./builder.ts";
import { GenesisError, GenesisErrorCode } from "./errors.ts";
import devnet from "./networks/devnet.json" with { type: "json" };
import type { GethGenesis, OpenGpuGenesis } from "./types.ts";

export { buildGenesis, normalizeGethGenesis, resolveGenesis, totalSupply } from "./builder.ts";
export { type DevAccount, deriveDevAccounts, TEST_MNEMONIC } from "./dev-accounts.ts";
export { GenesisError, GenesisErrorCode } from "./errors.ts";
export * from "./system-contracts.ts";
export * from "./token.ts";
export type * from "./types.ts";

/** The built-in network definitions, by name. */
export const NETWORKS: Readonly<Record<string, OpenGpuGenesis>> = {
  devnet: devnet as OpenGpuGenesis,
};

/** The devnet definition, optionally with another chain id or dev-account count. */
export function devnetDefinition(overrides: Partial<OpenGpuGenesis> = {}): OpenGpuGenesis {
  return { ...structuredClone(devnet as OpenGpuGenesis), ...overrides };
}

export function devnetGenesis(now = Math.floor(Date.now() / 1000)): GethGenesis {
  return resolveGenesis(devnet, { now });
}

/** Reads a genesis file in either format. */
export function loadGenesisFile(path: string, now = Math.floor(Date.now() / 1000)): GethGenesis {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new GenesisError(
      GenesisErrorCode.MALFORMED,
      `genesis: cannot read ${path}: ${(err as Error).message}`,
    );
  }
  return resolveGenesis(raw, { now });
}
