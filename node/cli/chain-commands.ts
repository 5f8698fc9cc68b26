/** `opengpu init` and `opengpu genesis`: creating chains and network definitions. */
import { writeFileSync } from "node:fs";
import { bytesToHex } from "@ethereumjs/util";
import { Command } from "commander";
import { devnetDefinition, loadGenesisFile, resolveGenesis } from "../../genesis/index.ts";
import { Blockchain } from "../execution/chain/blockchain.ts";
import { ChainDB } from "../execution/db/chain-db.ts";
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
    const db = await ChainDB.open(`${String(opts.datadir)}/chaindata`);
    try {
      const hash = await Blockchain.initGenesis(db, genesis, logger);
      process.stdout.write(`${bytesToHex(hash)}\n`);
    } finally {
      await db.close();
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
  program.addCommand(genesis);
}
