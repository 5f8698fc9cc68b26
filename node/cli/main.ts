/**
 * The `opengpu` command line. Each subcommand parses its flags, builds the node's options and
 * hands over to the node; `--help` works on every command.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { deriveDevAccounts, devnetDefinition, resolveGenesis, TEST_MNEMONIC } from "../../genesis/index.ts";
import { formatOgpu, parseOgpu } from "../../genesis/token.ts";
import { DEFAULT_AUTHRPC_PORT } from "../api/engine/index.ts";
import type { Hex } from "../execution/engine/types.ts";
import { type NodeConsensusOptions, OpenGpuNode } from "../node.ts";
import { errorMessage } from "../utils/errors.ts";
import type { Logger } from "../utils/logger.ts";
import { VERSION } from "../version.ts";
import { registerChainCommands } from "./chain-commands.ts";
import {
  addDevProviderOptions,
  addGpuOption,
  addProviderOptions,
  devProviders,
  providerFrom,
} from "./compute-options.ts";
import { registerImportExportCommands } from "./import-export.ts";
import { registerKeysCommands } from "./keys.ts";
import {
  addAuthRpcOptions,
  addLogOptions,
  addP2POptions,
  addRestOptions,
  addRpcOptions,
  addTxPoolOptions,
  authRpcOptionsFrom,
  loggerFrom,
  metricsOptionsFrom,
  p2pOptionsFrom,
  parseIndexRange,
  parseInteger,
  restOptionsFrom,
  rpcOptionsFrom,
  txpoolOptionsFrom,
} from "./options.ts";
import { registerProviderCommands } from "./provider.ts";
import { registerTaskCommands } from "./task.ts";

/** Resolves when the process is asked to stop (Ctrl-C, SIGTERM). */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const handler = (signal: string) => resolve(signal);
    process.once("SIGINT", handler);
    process.once("SIGTERM", handler);
  });
}

function devCommand(): Command {
  const cmd = new Command("dev")
    .description(
      "run a single-node development chain with prefunded accounts (state is temporary unless --datadir is given)",
    )
    .option("--datadir <dir>", "keep the chain in this directory (restarts resume it)")
    .option("--block-time <seconds>", "slot time in seconds: one block per slot", parseInteger, 2)
    .option("--validators <n>", "number of local proof-of-stake validators (interop keys)", parseInteger, 4)
    .option(
      "--automine",
      "no consensus layer: mine a block as soon as transactions arrive (each eth_sendRawTransaction returns once mined)",
    )
    .option("--accounts <n>", "number of prefunded dev accounts", parseInteger, 10)
    .option("--balance <ogpu>", "balance of each dev account in oGPU", "10000")
    .option("--mnemonic <words>", "mnemonic the dev accounts derive from", TEST_MNEMONIC)
    .option("--chain-id <id>", "chain id", parseInteger, 1337);
  addDevProviderOptions(cmd);
  addGpuOption(cmd);
  addRpcOptions(cmd, { http: 8545, ws: 8546 });
  addRestOptions(cmd);
  addAuthRpcOptions(cmd);
  addTxPoolOptions(cmd);
  addLogOptions(cmd);
  cmd.action(async (opts: Record<string, unknown>) => {
    const logger = loggerFrom(opts);
    const ephemeral = opts.datadir === undefined;
    const datadir = ephemeral ? mkdtempSync(join(tmpdir(), "opengpu-dev-")) : String(opts.datadir);
    const mnemonic = String(opts.mnemonic);
    const count = opts.accounts as number;
    parseOgpu(String(opts.balance));
    const blockTime = opts.blockTime as number;
    const automine = opts.automine === true;
    const validatorCount = opts.validators as number;
    if (!automine && (blockTime < 1 || validatorCount < 1)) {
      throw new CommanderError(2, "opengpu.dev", "--block-time and --validators must be at least 1");
    }
    const definition = devnetDefinition({
      chainId: opts.chainId as number,
      devAccounts: { mnemonic, count, balance: String(opts.balance) },
    });
    definition.validators = {
      ...(definition.validators ?? { balance: "32", source: "community" }),
      count: validatorCount,
    };
    definition.consensus = {
      ...(definition.consensus ?? { preset: "minimal", networkByte: 0 }),
      secondsPerSlot: blockTime,
    };
    const genesis = resolveGenesis(definition, { now: Math.floor(Date.now() / 1000) });
    const accounts = deriveDevAccounts(mnemonic, count);
    let consensus: NodeConsensusOptions | undefined;
    if (!automine) {
      const { genesisValidatorsOf, interopKeys } = await import("../consensus/genesis.ts");
      // Interop validators withdrawing to the dev accounts (i mod n): this node runs them all.
      const validators = genesisValidatorsOf(genesis);
      consensus = {
        genesisValidators: validators,
        validatorKeys: interopKeys(validators),
        feeRecipient: accounts[0]?.address ?? (`0x${"00".repeat(20)}` as Hex),
        graffiti: "opengpu-dev",
      };
    }
    const node = await OpenGpuNode.start(
      {
        datadir,
        genesis,
        rpc: rpcOptionsFrom(opts),
        metrics: metricsOptionsFrom(opts),
        rest: restOptionsFrom(opts),
        txpool: txpoolOptionsFrom(opts),
        authrpc: authRpcOptionsFrom(opts),
        extraData: new TextEncoder().encode("opengpu-dev"),
        compute: { gpu: opts.gpu === true },
        dev: {
          blockTime,
          automine,
          accounts,
          feeRecipient: accounts[0]?.address ?? (`0x${"00".repeat(20)}` as Hex),
        },
        consensus,
      },
      logger,
    );
    // Local compute providers (proof of stake only: their auctions and deadlines run on slots).
    const providers = automine
      ? []
      : devProviders(accounts, opts.providers as number, opts.providerPrice as bigint);
    for (const provider of providers) await node.compute.startProvider(provider);
    const lines = [
      "",
      `OpenGPU dev chain v${VERSION}  chain id ${node.el.chain.config.chainId}  ${
        automine
          ? "automine (no consensus layer)"
          : `proof of stake: ${validatorCount} validators, ${blockTime}s slots`
      }`,
      `JSON-RPC  ${node.rpc.server.httpUrl ?? "-"}   WebSocket ${node.rpc.server.wsUrl ?? "-"}${node.metricsUrl ? `   metrics ${node.metricsUrl}/metrics` : ""}`,
      ...(node.beaconApi !== undefined ? [`Beacon API ${node.beaconApi.url ?? "-"}`] : []),
      ...(node.engineApi !== undefined
        ? [`Engine API ${node.engineApi.url ?? "-"}   JWT secret ${node.jwtSecretFile ?? "-"}`]
        : []),
      ...(providers.length > 0
        ? [
            `Providers ${node.compute.agents.map((a) => a.address).join(" ")} (staking 1000 oGPU each, bidding ${formatOgpu(opts.providerPrice as bigint)} oGPU)`,
          ]
        : []),
      `Datadir   ${datadir}${ephemeral ? " (temporary, removed on exit)" : ""}`,
      "",
      `Dev accounts (${formatOgpu(parseOgpu(String(opts.balance)))} oGPU each; mnemonic "${mnemonic}")`,
      ...accounts.map((a) => `(${a.index}) ${a.address}  ${a.privateKey}`),
      "",
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    const signal = await untilSignal();
    logger.info({ signal }, "Shutting down");
    await node.stop();
    if (ephemeral) rmSync(datadir, { recursive: true, force: true });
  });
  return cmd;
}

function nodeCommand(): Command {
  const cmd = new Command("node")
    .description(
      "run a node on an initialized datadir: execution and consensus layer, with this node's validators (see `opengpu keys`)",
    )
    .requiredOption("--datadir <dir>", "data directory (see `opengpu init`)")
    .option(
      "--external-cl",
      "run the execution layer alone, driven by a consensus client over the Engine API",
    )
    .option("--keys-dir <dir>", "validator keystores (default: <datadir>/keys)")
    .option(
      "--password-file <file>",
      "file holding the keystores' password (needed when there are keystores)",
    )
    .option("--fee-recipient <address>", "execution address receiving the priority fees of our blocks")
    .option("--graffiti <text>", "graffiti of our blocks (up to 32 bytes)", `opengpu/v${VERSION}`)
    .option(
      "--interop-validators <from-to>",
      "also run these genesis validators of a network built on the public interop keys (local devnets only)",
      parseIndexRange,
    );
  addProviderOptions(cmd);
  addGpuOption(cmd);
  addRpcOptions(cmd, { http: 8545, ws: 8546 });
  addRestOptions(cmd);
  addP2POptions(cmd);
  addAuthRpcOptions(cmd, { port: DEFAULT_AUTHRPC_PORT });
  addTxPoolOptions(cmd);
  addLogOptions(cmd);
  cmd.action(async (opts: Record<string, unknown>) => {
    const logger = loggerFrom(opts);
    const datadir = String(opts.datadir);
    const externalCl = opts.externalCl === true;
    let consensus: NodeConsensusOptions | undefined;
    if (!externalCl) consensus = await validatorOptions(opts, datadir, logger);
    const provider = await providerFrom(opts);
    if (provider !== undefined && externalCl)
      throw new CommanderError(
        2,
        "opengpu.node",
        "--provider needs the node's own consensus layer (not --external-cl)",
      );
    // With --external-cl: no block producer; head, safe and finalized move only on
    // forkchoiceUpdated. Otherwise our consensus layer drives the execution layer in-process.
    const node = await OpenGpuNode.start(
      {
        datadir,
        rpc: rpcOptionsFrom(opts),
        metrics: metricsOptionsFrom(opts),
        rest: externalCl ? undefined : restOptionsFrom(opts),
        p2p: externalCl ? undefined : p2pOptionsFrom(opts),
        txpool: txpoolOptionsFrom(opts),
        authrpc: authRpcOptionsFrom(opts),
        compute: { gpu: opts.gpu === true },
        consensus,
      },
      logger,
    );
    if (provider !== undefined) await node.compute.startProvider(provider);
    const cl = node.consensus;
    const lines = [
      "",
      `OpenGPU node v${VERSION}  chain id ${node.el.chain.config.chainId}  ${
        cl === undefined
          ? "execution layer only (driven by an external consensus client)"
          : `proof of stake: ${cl.validator.keyCount} local validator(s), ${cl.clock.secondsPerSlot}s slots`
      }`,
      `JSON-RPC  ${node.rpc.server.httpUrl ?? "-"}   WebSocket ${node.rpc.server.wsUrl ?? "-"}${node.metricsUrl ? `   metrics ${node.metricsUrl}/metrics` : ""}`,
      ...(node.beaconApi !== undefined ? [`Beacon API ${node.beaconApi.url ?? "-"}`] : []),
      ...(node.p2p !== undefined ? [`P2P       ${node.p2p.host.multiaddrs.join("  ")}`] : []),
      ...(node.engineApi !== undefined
        ? [`Engine API ${node.engineApi.url ?? "-"}   JWT secret ${node.jwtSecretFile ?? "-"}`]
        : []),
      ...(node.compute.agents.length > 0 ? [`Provider  ${node.compute.agents[0].address}`] : []),
      `Datadir   ${datadir}`,
      "",
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    const signal = await untilSignal();
    logger.info({ signal }, "Shutting down");
    await node.stop();
  });
  return cmd;
}

/** This node's validators for `opengpu node`: keystores unlocked with the password file. */
async function validatorOptions(
  opts: Record<string, unknown>,
  datadir: string,
  logger: Logger,
): Promise<NodeConsensusOptions> {
  const { defaultKeysDir, keystoreFiles, loadValidatorKeysWithPasswordFile } = await import(
    "../consensus/keys/index.ts"
  );
  const keysDir = opts.keysDir === undefined ? defaultKeysDir(datadir) : String(opts.keysDir);
  const files = existsSync(keysDir) ? keystoreFiles(keysDir) : [];
  const feeRecipient = opts.feeRecipient === undefined ? undefined : String(opts.feeRecipient);
  if (feeRecipient !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(feeRecipient)) {
    throw new CommanderError(
      2,
      "opengpu.node",
      `--fee-recipient ${feeRecipient} is not a 20-byte 0x address`,
    );
  }
  const graffiti = String(opts.graffiti);
  if (new TextEncoder().encode(graffiti).length > 32) {
    throw new CommanderError(2, "opengpu.node", "--graffiti is longer than 32 bytes");
  }
  const interopValidators = opts.interopValidators as { from: number; to: number } | undefined;
  if (files.length === 0) {
    if (interopValidators === undefined)
      logger.info({ keysDir }, "No validator keystores: following the chain without validators");
    return {
      validatorKeys: [],
      interopValidators,
      feeRecipient: (feeRecipient ?? `0x${"00".repeat(20)}`) as Hex,
      graffiti,
    };
  }
  if (opts.passwordFile === undefined) {
    throw new CommanderError(
      2,
      "opengpu.node",
      `${files.length} keystore(s) in ${keysDir}: --password-file is needed to unlock them`,
    );
  }
  if (feeRecipient === undefined) {
    throw new CommanderError(
      2,
      "opengpu.node",
      "--fee-recipient is needed when the node runs validators (their blocks' priority fees go there)",
    );
  }
  const started = performance.now();
  const keys = await loadValidatorKeysWithPasswordFile(keysDir, String(opts.passwordFile));
  logger.info(
    { keysDir, validators: keys.length, ms: Math.round(performance.now() - started) },
    "Unlocked validator keystores",
  );
  return {
    validatorKeys: keys.map((k) => ({ secretKey: k.secretKey, pubkey: k.pubkey })),
    interopValidators,
    feeRecipient: feeRecipient as Hex,
    graffiti,
  };
}

export function buildProgram(): Command {
  const program = new Command("opengpu")
    .description("OpenGPU node: EVM execution, proof-of-stake consensus and a GPU compute layer")
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(devCommand());
  program.addCommand(nodeCommand());
  registerChainCommands(program);
  registerImportExportCommands(program);
  registerKeysCommands(program);
  registerTaskCommands(program);
  registerProviderCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === "commander.helpDisplayed" ||
        err.code === "commander.version" ||
        err.code === "commander.help"
      )
        return;
      if (err.code.startsWith("opengpu.")) process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = err.exitCode === 0 ? 1 : err.exitCode;
      return;
    }
    process.stderr.write(`error: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  }
}
