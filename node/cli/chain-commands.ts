/** `opengpu init` and `opengpu genesis`: creating chains and network definitions. */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Block } from "@ethereumjs/block";
import { bytesToHex } from "@ethereumjs/util";
import { Command } from "commander";
import { OPENGPU_GENESIS_FORMAT } from "../../genesis/builder.ts";
import {
  buildGenesis,
  devnetDefinition,
  GenesisError,
  GenesisErrorCode,
  loadGenesisFile,
  resolveGenesis,
} from "../../genesis/index.ts";
import type { GenesisDepositData, OpenGpuGenesis, ValidatorStakeSource } from "../../genesis/types.ts";
import type { DepositDataJson } from "../consensus/keys/deposit-data.ts";
import { Blockchain } from "../execution/chain/blockchain.ts";
import { ChainDB } from "../execution/db/chain-db.ts";
import { errorMessage } from "../utils/errors.ts";
import { addLogOptions, loggerFrom } from "./options.ts";

export function registerChainCommands(program: Command): void {
  const init = new Command("init")
    .description(
      "initialize a datadir from a genesis file (OpenGPU network definition or geth-style genesis.json)",
    )
    .requiredOption("--datadir <dir>", "data directory to create")
    .requiredOption("--genesis <file>", "genesis file");
  addLogOptions(init);
  init.action(async (opts: Record<string, unknown>) => {
    const logger = loggerFrom(opts);
    const genesis = loadGenesisFile(String(opts.genesis));
    const datadir = String(opts.datadir);
    const db = await ChainDB.open(`${datadir}/chaindata`);
    let elGenesis: Block;
    try {
      await Blockchain.initGenesis(db, genesis, logger);
      elGenesis = (await Blockchain.open({ db, logger })).genesis;
    } finally {
      await db.close();
    }
    process.stdout.write(`${bytesToHex(elGenesis.hash())}\n`);
    // Proof-of-stake networks: the beacon half too, built on this execution genesis.
    if (genesis.config.opengpu?.consensus !== undefined) {
      const { consensusSpecOf, genesisValidatorsOf, initBeaconGenesis, usesInteropValidators } = await import(
        "../consensus/index.ts"
      );
      if (usesInteropValidators(genesis)) {
        logger.warn(
          "genesis validators are the public interop keys: anyone can sign for them (dev and test networks only)",
        );
      }
      const root = await initBeaconGenesis(
        {
          datadir,
          spec: consensusSpecOf(genesis),
          elGenesis,
          genesisValidators: genesisValidatorsOf(genesis),
        },
        logger,
      );
      process.stdout.write(`${root}\n`);
    }
  });
  program.addCommand(init);

  const genesis = new Command("genesis").description("write network definitions and resolved genesis files");
  genesis
    .command("devnet")
    .description(
      "print the devnet definition (OpenGPU format), or with --resolved the geth-style genesis it compiles to",
    )
    .option("--resolved", "print the compiled geth-style genesis")
    .option("--out <file>", "write to a file instead of stdout")
    .action((opts: { resolved?: boolean; out?: string }) => {
      const definition = devnetDefinition();
      const value =
        opts.resolved === true
          ? resolveGenesis(definition, { now: Math.floor(Date.now() / 1000) })
          : definition;
      const text = `${JSON.stringify(value, null, 2)}\n`;
      if (opts.out !== undefined) writeFileSync(opts.out, text);
      else process.stdout.write(text);
    });
  genesis
    .command("add-deposits")
    .description(
      "add genesis validators to an OpenGPU network definition from deposit_data files (`opengpu keys deposit-data`), checking every signature against the network's fork version",
    )
    .requiredOption("--definition <file>", "OpenGPU network definition (opengpu-genesis/1) to extend")
    .requiredOption("--deposit-data <files...>", "deposit_data JSON files")
    .option("--source <share>", "allocation share paying the stake (community, reserve, providerRewards)")
    .option(
      "--genesis-time <unix>",
      "set the network's genesis time (every node must resolve the same genesis)",
    )
    .option("--out <file>", "write here instead of replacing --definition")
    .action(async (opts: Record<string, unknown>) => {
      const file = String(opts.definition);
      const definition = readJson(file) as OpenGpuGenesis;
      if (definition.format !== OPENGPU_GENESIS_FORMAT || definition.consensus === undefined) {
        throw new GenesisError(
          GenesisErrorCode.INVALID_FIELD,
          `${file} is not an OpenGPU network definition with a consensus section`,
        );
      }
      // Loaded on demand: Lodestar's preset is fixed when @lodestar/params first loads.
      const { checkDepositData } = await import("../consensus/keys/index.ts");
      const { genesisForkVersion } = await import("../consensus/config.ts");
      const forkVersion = genesisForkVersion(definition.consensus.networkByte);
      const existing = definition.validators?.deposits ?? [];
      const seen = new Set(existing.map((d) => d.pubkey.replace(/^0x/, "").toLowerCase()));
      const added: GenesisDepositData[] = [];
      for (const path of opts.depositData as string[]) {
        const entries = readJson(path);
        if (!Array.isArray(entries)) {
          throw new GenesisError(
            GenesisErrorCode.INVALID_FIELD,
            `${path}: a deposit_data file is a JSON list`,
          );
        }
        entries.forEach((entry: DepositDataJson, i: number) => {
          const problem = checkDepositData(entry, forkVersion);
          if (problem !== undefined) {
            throw new GenesisError(
              GenesisErrorCode.INVALID_FIELD,
              `${path} entry ${i} (0x${entry.pubkey}): ${problem}`,
            );
          }
          const key = entry.pubkey.toLowerCase();
          if (seen.has(key)) {
            throw new GenesisError(
              GenesisErrorCode.INVALID_FIELD,
              `${path} entry ${i}: validator 0x${key} is already in the set`,
            );
          }
          seen.add(key);
          added.push({
            pubkey: entry.pubkey,
            withdrawal_credentials: entry.withdrawal_credentials,
            amount: entry.amount,
            signature: entry.signature,
          });
        });
      }
      const source = (opts.source ?? definition.validators?.source ?? "community") as ValidatorStakeSource;
      definition.validators = {
        count: existing.length + added.length,
        source,
        deposits: [...existing, ...added],
      };
      if (opts.genesisTime !== undefined) {
        const time = Number(opts.genesisTime);
        if (!Number.isSafeInteger(time) || time <= 0) {
          throw new GenesisError(GenesisErrorCode.INVALID_FIELD, "--genesis-time must be unix seconds");
        }
        definition.timestamp = time;
      }
      // The result must build (shares, amounts, duplicates) before it is written.
      buildGenesis(definition, { now: Math.floor(Date.now() / 1000) });
      const out = opts.out === undefined ? file : String(opts.out);
      writeFileSync(`${out}.tmp`, `${JSON.stringify(definition, null, 2)}\n`);
      renameSync(`${out}.tmp`, out);
      process.stdout.write(
        `Added ${added.length} genesis validator(s) to ${out}: ${definition.validators.count} in all, stake from ${source}${
          definition.timestamp === 0
            ? " (genesis time 0 = the time of `opengpu init`: set --genesis-time for a network of several nodes)"
            : ""
        }\n`,
      );
    });
  program.addCommand(genesis);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new GenesisError(GenesisErrorCode.MALFORMED, `cannot read ${path}: ${errorMessage(err)}`);
  }
}
