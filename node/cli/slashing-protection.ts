/**
 * `opengpu keys slashing-protection import|export`: moves our validators' signing history in and
 * out of the node's EIP-3076 slashing-protection database (`<datadir>/slashing-protection`) as an
 * interchange file (format version 5), e.g. when a validator moves between machines or clients.
 * The genesis validators root comes from the datadir's beacon genesis (run `opengpu init` first);
 * the node must be stopped (its databases are locked while it runs).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { hexToBytes } from "@ethereumjs/util";
import { Command, CommanderError, Option } from "commander";

interface Opts {
  datadir: string;
  file: string;
  pubkey?: string[];
  format?: "complete" | "minimal";
}

async function withDatabases<T>(
  datadir: string,
  use: (
    protection: import("../consensus/slashing-protection/index.ts").SlashingProtection,
    gvr: Uint8Array,
  ) => Promise<T>,
): Promise<T> {
  const beaconDir = join(datadir, "beacondata");
  if (!existsSync(beaconDir)) {
    throw new CommanderError(
      1,
      "opengpu.keys",
      `${datadir} has no beacon genesis: run \`opengpu init\` with a proof-of-stake genesis first`,
    );
  }
  // Loaded on demand: Lodestar's preset is fixed when @lodestar/params first loads.
  const { BeaconDB, BeaconMeta } = await import("../consensus/db/beacon-db.ts");
  const { SlashingProtection } = await import("../consensus/slashing-protection/index.ts");
  const locked = (err: unknown): never => {
    throw new CommanderError(
      1,
      "opengpu.keys",
      `cannot open the databases in ${datadir} (is the node running? stop it first): ${(err as Error).message}`,
    );
  };
  const beacon = await BeaconDB.open(beaconDir).catch(locked);
  let gvr: Uint8Array | undefined;
  try {
    gvr = beacon.getMeta(BeaconMeta.genesisValidatorsRoot);
  } finally {
    await beacon.close();
  }
  if (gvr === undefined) throw new CommanderError(1, "opengpu.keys", `${beaconDir} holds no beacon genesis`);
  const protection = await SlashingProtection.open(join(datadir, "slashing-protection"), {
    genesisValidatorsRoot: gvr,
  }).catch(locked);
  try {
    return await use(protection, gvr);
  } finally {
    await protection.close();
  }
}

export function slashingProtectionCommand(): Command {
  const cmd = new Command("slashing-protection").description(
    "import or export the validators' signing history (EIP-3076 interchange); the node must be stopped",
  );
  cmd
    .command("import")
    .description("import an interchange file: the whole file or nothing")
    .requiredOption("--datadir <dir>", "node data directory")
    .requiredOption("--file <file>", "EIP-3076 interchange JSON")
    .action(async (opts: Opts) => {
      const text = readFileSync(resolve(opts.file), "utf8");
      const summary = await withDatabases(resolve(opts.datadir), (p, gvr) => p.importInterchange(text, gvr));
      process.stdout.write(
        `Imported ${summary.validators} validator(s): ${summary.blocks} block(s), ${summary.attestations} attestation(s)\n`,
      );
    });
  cmd
    .command("export")
    .description("write the signing history as an interchange file")
    .requiredOption("--datadir <dir>", "node data directory")
    .requiredOption("--file <file>", "where to write the interchange JSON")
    .option("--pubkey <keys...>", "only these validators (0x public keys)")
    .addOption(
      new Option("--format <format>", "complete history, or one watermark per validator")
        .choices(["complete", "minimal"])
        .default("complete"),
    )
    .action(async (opts: Opts) => {
      const pubkeys = opts.pubkey?.map((k) =>
        hexToBytes((k.startsWith("0x") ? k : `0x${k}`) as `0x${string}`),
      );
      const doc = await withDatabases(resolve(opts.datadir), (p, gvr) =>
        p.exportInterchange(pubkeys, gvr, { format: opts.format }),
      );
      const file = resolve(opts.file);
      writeFileSync(`${file}.tmp`, `${JSON.stringify(doc, null, 2)}\n`);
      renameSync(`${file}.tmp`, file);
      process.stdout.write(`Exported ${doc.data.length} validator(s) to ${file}\n`);
    });
  return cmd;
}
