/**
 * `opengpu export` and `opengpu import`: moving a chain in and out of a datadir as concatenated
 * RLP blocks, the file format of `geth export` / `geth import` (gzipped for `.gz` files).
 * The format and the import loop live in `execution/chain/rlp-io.ts`; this module parses flags,
 * opens (or, with `--genesis`, initializes) the datadir and turns failures into exit codes.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { loadGenesisFile } from "../../genesis/index.ts";
import { Blockchain } from "../execution/chain/blockchain.ts";
import { exportChain, importChain } from "../execution/chain/rlp-io.ts";
import { ChainDB } from "../execution/db/chain-db.ts";
import type { Logger } from "../utils/logger.ts";
import { addLogOptions, loggerFrom, parseBigInt } from "./options.ts";

function fail(command: string, message: string): CommanderError {
  return new CommanderError(1, `opengpu.${command}`, message);
}

/**
 * Opens the chain in `datadir`, first writing `genesisFile`'s genesis if given (which must match
 * the datadir's if it already holds a chain). Runs `use` and closes the database.
 */
async function withChain<T>(
  command: string,
  datadir: string,
  genesisFile: string | undefined,
  logger: Logger,
  use: (chain: Blockchain) => Promise<T>,
): Promise<T> {
  const chaindata = join(datadir, "chaindata");
  if (genesisFile === undefined && !existsSync(chaindata)) {
    throw fail(
      command,
      `datadir ${datadir} holds no chain: run \`opengpu init --datadir ${datadir} --genesis FILE\` first${command === "import" ? " or pass --genesis FILE" : ""}`,
    );
  }
  const genesis = genesisFile === undefined ? undefined : loadGenesisFile(genesisFile);
  mkdirSync(datadir, { recursive: true });
  const db = await ChainDB.open(chaindata);
  try {
    const chainLogger = logger.child({ module: "chain" });
    if (genesis !== undefined) await Blockchain.initGenesis(db, genesis, chainLogger);
    else if (!Blockchain.isInitialized(db)) {
      throw fail(command, `datadir ${datadir} holds no chain: run \`opengpu init\` first`);
    }
    const chain = await Blockchain.open({ db, logger: chainLogger });
    return await use(chain);
  } finally {
    await db.close();
  }
}

function exportCommand(): Command {
  const cmd = new Command("export")
    .description(
      "write canonical blocks to FILE as concatenated RLP (the `geth export` format; gzipped if FILE ends in .gz)",
    )
    .argument("<file>", "output file")
    .requiredOption("--datadir <dir>", "data directory")
    .option("--from <n>", "first block (default: 0, the genesis)", parseBigInt)
    .option("--to <n>", "last block (default: the head)", parseBigInt);
  addLogOptions(cmd);
  cmd.action(async (file: string, opts: Record<string, unknown>) => {
    const logger = loggerFrom(opts);
    await withChain("export", String(opts.datadir), undefined, logger, async (chain) => {
      await exportChain(chain, file, {
        from: opts.from as bigint | undefined,
        to: opts.to as bigint | undefined,
        logger: logger.child({ module: "export" }),
      });
    });
  });
  return cmd;
}

function importCommand(): Command {
  const cmd = new Command("import")
    .description(
      "import blocks from concatenated-RLP files (the `geth export` format, plain or .gz), validating and executing each; known blocks are skipped and the import stops at the first invalid block",
    )
    .argument("<files...>", "files to import, in order")
    .requiredOption("--datadir <dir>", "data directory (initialized with `opengpu init`, or see --genesis)")
    .option(
      "--genesis <file>",
      "initialize the datadir with this genesis first (must match if already initialized)",
    );
  addLogOptions(cmd);
  cmd.action(async (files: string[], opts: Record<string, unknown>) => {
    const logger = loggerFrom(opts);
    const genesis = opts.genesis === undefined ? undefined : String(opts.genesis);
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const result = await withChain("import", String(opts.datadir), genesis, logger, (chain) =>
        importChain(chain, files, { logger: logger.child({ module: "import" }), signal: abort.signal }),
      );
      if (result.failure !== undefined) {
        throw fail(
          "import",
          `${result.failure.message}\nimported ${result.imported} blocks before it; head is block ${result.head.number} ${result.head.hash}`,
        );
      }
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  });
  return cmd;
}

export function registerImportExportCommands(program: Command): void {
  program.addCommand(exportCommand());
  program.addCommand(importCommand());
}
