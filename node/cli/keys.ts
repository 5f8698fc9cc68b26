/**
 * `opengpu keys create|import|list|deposit-data|exit|slashing-protection`: validator key management
 * on the command line.
 *
 * Keys live in `--keys-dir` (default `<datadir>/keys`) as EIP-2335 keystores sharing one password.
 * Secrets come from files only (`--password-file`, `--mnemonic-file`); they are never taken from
 * argv and never printed, except a newly generated mnemonic, shown once with a warning.
 */
import { renameSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import {
  assertNewPassword,
  createKeys,
  type DepositDataJson,
  defaultKeysDir,
  depositDataFileName,
  depositDataForKeys,
  importKeystores,
  listKeys,
  loadValidatorKeys,
  newMnemonic,
  normalizeMnemonic,
  parseForkVersion,
  readSecretFile,
} from "../consensus/keys/index.ts";
import { exitCommand } from "./exit.ts";
import { parseInteger } from "./options.ts";
import { slashingProtectionCommand } from "./slashing-protection.ts";

const DEFAULT_NETWORK_NAME = "opengpu";

const MNEMONIC_WARNING =
  "WARNING: a new mnemonic was generated. It is shown only this once. It is the only way to recover\n" +
  "these validator keys and their withdrawal keys: write it down and keep it offline. Anyone who\n" +
  "has it controls the validators and their stake.";

interface KeysDirOpts {
  datadir?: string;
  keysDir?: string;
  json?: boolean;
}

interface DepositOpts {
  forkVersion?: string;
  amount: string;
  withdrawalAddress?: string;
  compounding?: boolean;
  networkName: string;
}

function parseCount(value: string): number {
  const n = parseInteger(value);
  if (n < 1) throw new InvalidArgumentError("must be at least 1");
  return n;
}

function keysDirOptions(cmd: Command): Command {
  return cmd
    .option("--datadir <dir>", "node data directory (keys in DIR/keys)")
    .option("--keys-dir <dir>", "validator key directory (default: <datadir>/keys)")
    .option("--json", "print machine-readable JSON");
}

function depositOptions(cmd: Command, forkVersionRequired: boolean): Command {
  const fork = new Option(
    "--fork-version <hex>",
    forkVersionRequired
      ? "the network's GENESIS_FORK_VERSION, 4 bytes of 0x-hex (the devnet's is 0x4f470000)"
      : "also write deposit data, for the network with this GENESIS_FORK_VERSION (0x-hex)",
  );
  if (forkVersionRequired) fork.makeOptionMandatory();
  return cmd
    .addOption(fork)
    .option("--amount <ogpu>", "deposit per validator in oGPU (1-32, or up to 2048 with --compounding)", "32")
    .option(
      "--withdrawal-address <address>",
      "withdraw to this execution address (0x01 credentials); without it, BLS (0x00) credentials from the mnemonic",
    )
    .option("--compounding", "compounding (0x02) credentials to --withdrawal-address")
    .option("--network-name <name>", "network name written into the deposit data", DEFAULT_NETWORK_NAME);
}

function keysDirFrom(opts: KeysDirOpts): string {
  if (opts.keysDir !== undefined) return resolve(opts.keysDir);
  if (opts.datadir !== undefined) return defaultKeysDir(resolve(opts.datadir));
  throw new CommanderError(2, "opengpu.keys", "give --keys-dir DIR, or --datadir DIR for DIR/keys");
}

function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** Writes a deposit_data file atomically and returns its path. */
function writeDepositData(file: string, entries: DepositDataJson[]): string {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, file);
  return file;
}

function createCommand(): Command {
  const cmd = keysDirOptions(
    new Command("create")
      .description(
        "create validator keys from a mnemonic (EIP-2333/2334, m/12381/3600/i/0/0) as EIP-2335 keystores; a new 24-word mnemonic is generated and shown once when --mnemonic-file is not given",
      )
      .requiredOption(
        "--password-file <file>",
        "file holding the keystores' password (at least 8 characters)",
      )
      .option("--mnemonic-file <file>", "file holding the BIP-39 mnemonic to derive from")
      .option("--count <n>", "number of validator keys", parseCount, 1)
      .option("--start-index <i>", "index of the first validator key", parseInteger, 0)
      .addOption(
        new Option("--kdf <function>", "keystore key derivation")
          .choices(["scrypt", "pbkdf2"])
          .default("scrypt"),
      ),
  );
  depositOptions(cmd, false);
  cmd.action(async (opts: KeysDirOpts & DepositOpts & Record<string, unknown>) => {
    const keysDir = keysDirFrom(opts);
    const password = readSecretFile(String(opts.passwordFile));
    assertNewPassword(password);
    const forkVersion = opts.forkVersion !== undefined ? parseForkVersion(opts.forkVersion) : undefined;
    const generated = opts.mnemonicFile === undefined;
    const mnemonic = generated
      ? newMnemonic()
      : normalizeMnemonic(readSecretFile(String(opts.mnemonicFile), "mnemonic"));
    const now = Math.floor(Date.now() / 1000);
    // Deposit parameters are checked (by building the entries) before any keystore is written.
    const created = await createKeys({
      keysDir,
      mnemonic,
      password,
      count: opts.count as number,
      startIndex: opts.startIndex as number,
      kdf: opts.kdf as "scrypt" | "pbkdf2",
      now,
    });
    let depositFile: string | undefined;
    if (forkVersion !== undefined) {
      const entries = depositDataForKeys(created, {
        amount: opts.amount,
        genesisForkVersion: forkVersion,
        networkName: opts.networkName,
        withdrawalAddress: opts.withdrawalAddress,
        compounding: opts.compounding === true,
        mnemonic,
      });
      depositFile = writeDepositData(join(keysDir, depositDataFileName(now)), entries);
    }
    const keys = created.map((k) => ({ index: k.index, path: k.path, pubkey: k.pubkey, file: k.file }));
    if (opts.json === true) {
      if (generated) process.stderr.write(`${MNEMONIC_WARNING}\n`);
      printJson({
        keysDir,
        keys,
        ...(depositFile !== undefined ? { depositData: depositFile } : {}),
        ...(generated ? { mnemonic } : {}),
      });
      return;
    }
    const lines = [
      `Created ${keys.length} validator key${keys.length === 1 ? "" : "s"} in ${keysDir}`,
      ...keys.map((k) => `  ${k.path}  ${k.pubkey}  ${basename(k.file)}`),
      ...(depositFile !== undefined ? [`Deposit data: ${depositFile}`] : []),
    ];
    if (generated) lines.push("", MNEMONIC_WARNING, "", `  ${mnemonic}`, "");
    print(lines.join("\n"));
  });
  return cmd;
}

function importCommand(): Command {
  const cmd = keysDirOptions(
    new Command("import")
      .description(
        "import EIP-2335 keystores (files, or directories of keystore*.json) into the key directory; each is decrypted first. The node opens every keystore of the directory with one password: use --new-password-file when the imported ones have another",
      )
      .argument("<paths...>", "keystore files or directories")
      .requiredOption("--password-file <file>", "file holding the imported keystores' password")
      .option(
        "--new-password-file <file>",
        "re-encrypt the imported keys with this password (the key directory's) instead of copying the files",
      ),
  );
  cmd.action(async (paths: string[], opts: KeysDirOpts & Record<string, unknown>) => {
    const keysDir = keysDirFrom(opts);
    const password = readSecretFile(String(opts.passwordFile));
    const newPassword =
      opts.newPasswordFile !== undefined ? readSecretFile(String(opts.newPasswordFile)) : undefined;
    if (newPassword !== undefined) assertNewPassword(newPassword);
    const results = await importKeystores({ keysDir, sources: paths, password, newPassword });
    if (opts.json === true) {
      printJson({ keysDir, results });
      return;
    }
    const imported = results.filter((r) => r.status === "imported").length;
    print(
      [
        `Imported ${imported} of ${results.length} keystore${results.length === 1 ? "" : "s"} into ${keysDir}`,
        ...results.map(
          (r) => `  ${r.status.padEnd(9)} ${r.pubkey}  ${r.path || "(no path)"}  ${basename(r.file)}`,
        ),
      ].join("\n"),
    );
  });
  return cmd;
}

function listCommand(): Command {
  const cmd = keysDirOptions(
    new Command("list").description(
      "list the validator keys in the key directory (public keys and paths; no password needed)",
    ),
  );
  cmd.action((opts: KeysDirOpts) => {
    const keysDir = keysDirFrom(opts);
    const keys = listKeys(keysDir);
    if (opts.json === true) {
      printJson({ keysDir, keys });
      return;
    }
    if (keys.length === 0) {
      print(`No validator keys in ${keysDir}`);
      return;
    }
    print(
      [
        `${keys.length} validator key${keys.length === 1 ? "" : "s"} in ${keysDir}`,
        ...keys.map((k) => `  ${k.pubkey}  ${k.path || "(no path)"}  ${basename(k.file)}`),
      ].join("\n"),
    );
  });
  return cmd;
}

function depositDataCommand(): Command {
  const cmd = keysDirOptions(
    new Command("deposit-data")
      .description(
        "write deposit_data-<time>.json (staking-deposit-cli format) for the keys in the key directory",
      )
      .requiredOption("--password-file <file>", "file holding the key directory's password")
      .option("--mnemonic-file <file>", "the keys' mnemonic: needed for BLS (0x00) withdrawal credentials")
      .option("--out <file>", "output file (default: <keys-dir>/deposit_data-<unix time>.json)"),
  );
  depositOptions(cmd, true);
  cmd.action(async (opts: KeysDirOpts & DepositOpts & Record<string, unknown>) => {
    const keysDir = keysDirFrom(opts);
    const genesisForkVersion = parseForkVersion(String(opts.forkVersion));
    const mnemonic =
      opts.mnemonicFile !== undefined
        ? normalizeMnemonic(readSecretFile(String(opts.mnemonicFile), "mnemonic"))
        : undefined;
    const password = readSecretFile(String(opts.passwordFile));
    const keys = await loadValidatorKeys(keysDir, password);
    if (keys.length === 0) throw new CommanderError(1, "opengpu.keys", `no validator keys in ${keysDir}`);
    const entries = depositDataForKeys(keys, {
      amount: opts.amount,
      genesisForkVersion,
      networkName: opts.networkName,
      withdrawalAddress: opts.withdrawalAddress,
      compounding: opts.compounding === true,
      mnemonic,
    });
    const file = writeDepositData(
      opts.out !== undefined
        ? resolve(String(opts.out))
        : join(keysDir, depositDataFileName(Math.floor(Date.now() / 1000))),
      entries,
    );
    if (opts.json === true) {
      printJson({ file, deposits: entries });
      return;
    }
    print(
      [
        `Wrote deposit data for ${entries.length} validator${entries.length === 1 ? "" : "s"} to ${file}`,
        ...entries.map(
          (e) =>
            `  0x${e.pubkey}  ${Number(BigInt(e.amount) / 1_000_000_000n)} oGPU  credentials 0x${e.withdrawal_credentials}`,
        ),
      ].join("\n"),
    );
  });
  return cmd;
}

export function registerKeysCommands(program: Command): void {
  // `command()` (unlike `addCommand()`) inherits the program's settings, exitOverride included,
  // so `--help` and usage errors return to `main` instead of exiting the process.
  const keys = program
    .command("keys")
    .description(
      "manage validator keys: create, import, list, deposit data, voluntary exit, slashing protection",
    );
  for (const sub of [
    createCommand(),
    importCommand(),
    listCommand(),
    depositDataCommand(),
    exitCommand(keysDirFrom),
    slashingProtectionCommand(),
  ]) {
    keys.addCommand(sub.copyInheritedSettings(keys));
    for (const nested of sub.commands) nested.copyInheritedSettings(sub);
  }
}
