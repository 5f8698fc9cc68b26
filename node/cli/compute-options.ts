/**
 * CLI options of the compute layer: `--gpu` everywhere, local dev providers for `opengpu dev`
 * (`--providers N`), and this node's provider agent for `opengpu node` (`--provider` with its
 * keys, price and stake).
 */
import { readFileSync } from "node:fs";
import { SecretKey } from "@chainsafe/blst";
import { type Command, InvalidArgumentError, Option } from "commander";
import { keccak256 } from "ethereum-cryptography/keccak";
import type { DevAccount } from "../../genesis/dev-accounts.ts";
import { parseOgpu } from "../../genesis/token.ts";
import type { ProviderAgentOptions, ProviderBehaviour } from "../compute-layer/index.ts";
import type { Hex } from "../execution/engine/types.ts";
import { OpenGpuError } from "../utils/errors.ts";

const BEHAVIOURS = ["honest", "perturb", "silent", "lazy"] as const;

function parseAmount(value: string): bigint {
  try {
    return parseOgpu(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function parseModels(value: string): Hex[] {
  const models = value.split(",").map((m) => m.trim().toLowerCase());
  for (const m of models)
    if (!/^0x[0-9a-f]{64}$/.test(m)) throw new InvalidArgumentError(`${m} is not a 32-byte 0x sha256`);
  return models as Hex[];
}

export function addGpuOption(cmd: Command): Command {
  return cmd.option(
    "--gpu",
    "run compute tasks on the CUDA execution provider when it is available (CPU otherwise, said once in the log)",
  );
}

export function addDevProviderOptions(cmd: Command): Command {
  return cmd
    .option(
      "--providers <n>",
      "local compute providers (staked agents using the last dev accounts)",
      (v) => {
        const n = Number(v);
        if (!Number.isSafeInteger(n) || n < 0 || n > 32) throw new InvalidArgumentError("must be 0 to 32");
        return n;
      },
      4,
    )
    .addOption(
      new Option("--provider-price <ogpu>", "price each local provider bids per task")
        .argParser(parseAmount)
        .default(10n ** 18n, "1"),
    );
}

/**
 * Dev providers: the last `n` dev accounts, each with a BLS key derived from its index, staking
 * 1,000 oGPU (10% of a dev account's default balance).
 */
export function devProviders(
  accounts: readonly DevAccount[],
  n: number,
  price: bigint,
): ProviderAgentOptions[] {
  if (n >= accounts.length)
    throw new OpenGpuError("BAD_OPTIONS", `--providers ${n} needs more than ${n} dev accounts (--accounts)`);
  return accounts.slice(accounts.length - n).map((a) => ({
    privateKey: a.privateKey,
    blsSecretKey: SecretKey.fromKeygen(
      keccak256(new TextEncoder().encode(`opengpu dev provider ${a.index}`)),
    ).toBytes(),
    price,
    stake: 1000n * 10n ** 18n,
    peerId: "",
  }));
}

export function addProviderOptions(cmd: Command): Command {
  return cmd
    .option("--provider", "run a compute provider agent on this node")
    .option(
      "--provider.key-file <file>",
      "file with the provider account's private key (0x hex): pays gas, gets paid",
    )
    .option("--provider.bls-key-file <file>", "file with the provider's BLS secret key (0x hex, 32 bytes)")
    .option(
      "--provider.bls-keystore <file>",
      "the provider's BLS key as an EIP-2335 keystore (e.g. a validator's)",
    )
    .option("--provider.bls-password-file <file>", "password of --provider.bls-keystore")
    .addOption(
      new Option("--provider.price <ogpu>", "price bid per task")
        .argParser(parseAmount)
        .default(10n ** 18n, "1"),
    )
    .addOption(
      new Option("--provider.stake <ogpu>", "register with this stake when not registered yet").argParser(
        parseAmount,
      ),
    )
    .option("--provider.models <sha256,...>", "models served (default: every registered model)", parseModels)
    .option(
      "--provider.capacity <n>",
      "tasks executed at once (default 3: one runs while the others' inputs and outputs are handled)",
      (v) => {
        const n = Number(v);
        if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
        return n;
      },
      1,
    )
    .addOption(
      new Option("--provider.fault <mode>", "inject a fault, for testing networks only")
        .choices(BEHAVIOURS)
        .hideHelp(),
    );
}

function readHexFile(file: string, bytes: number, what: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new OpenGpuError("BAD_OPTIONS", `${what}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (!new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(text))
    throw new OpenGpuError("BAD_OPTIONS", `${what}: ${file} must hold 0x and ${bytes * 2} hex digits`);
  return Uint8Array.from(Buffer.from(text.slice(2), "hex"));
}

/** The provider agent `opengpu node --provider ...` asks for, or undefined without --provider. */
export async function providerFrom(opts: Record<string, unknown>): Promise<ProviderAgentOptions | undefined> {
  if (opts.provider !== true) return undefined;
  const keyFile = opts["provider.keyFile"] ?? opts.providerKeyFile;
  if (keyFile === undefined)
    throw new OpenGpuError(
      "BAD_OPTIONS",
      "--provider needs --provider.key-file (the provider account's key)",
    );
  const privateKey =
    `0x${Buffer.from(readHexFile(String(keyFile), 32, "--provider.key-file")).toString("hex")}` as Hex;
  let blsSecretKey: Uint8Array;
  const blsFile = opts["provider.blsKeyFile"];
  const blsKeystore = opts["provider.blsKeystore"];
  if (blsFile !== undefined) blsSecretKey = readHexFile(String(blsFile), 32, "--provider.bls-key-file");
  else if (blsKeystore !== undefined) {
    const passwordFile = opts["provider.blsPasswordFile"];
    if (passwordFile === undefined)
      throw new OpenGpuError("BAD_OPTIONS", "--provider.bls-keystore needs --provider.bls-password-file");
    const { decryptKeystore, parseKeystore } = await import("../consensus/keys/keystore.ts");
    const source = String(blsKeystore);
    const keystore = parseKeystore(readFileSync(source, "utf8"), source);
    const password = readFileSync(String(passwordFile), "utf8").replace(/\r?\n$/, "");
    blsSecretKey = (await decryptKeystore(keystore, password, source)).toBytes();
  } else
    throw new OpenGpuError(
      "BAD_OPTIONS",
      "--provider needs --provider.bls-key-file or --provider.bls-keystore",
    );
  return {
    privateKey,
    blsSecretKey,
    price: opts["provider.price"] as bigint,
    stake: opts["provider.stake"] as bigint | undefined,
    models: opts["provider.models"] as Hex[] | undefined,
    capacity: opts["provider.capacity"] as number,
    behaviour: opts["provider.fault"] as ProviderBehaviour | undefined,
  };
}
