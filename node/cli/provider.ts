/**
 * `opengpu provider register|status|update|add-stake|unbond|withdraw`: a GPU provider's stake
 * and service in the ProviderRegistry, from any node's JSON-RPC (`--rpc`).
 *
 * `register` proves possession of the provider's BLS key (the key its committee attestations are
 * signed with) by signing, locally, "OpenGPU provider PoP" ++ chain id ++ account ++ public key;
 * the key comes from `--bls-key HEX` (dev) or an EIP-2335 keystore with its password file.
 */
import { SecretKey } from "@chainsafe/blst";
import { Command, InvalidArgumentError, Option } from "commander";
import { type Hex, parseEventLogs, toHex } from "viem";
import { formatOgpu } from "../../genesis/token.ts";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../precompiles/addresses.ts";
import { PROVIDER_REGISTRY_ABI, popMessage } from "../../precompiles/provider-registry/index.ts";
import { PROVIDER_STATUSES } from "../api/compute/format.ts";
import { decryptKeystore, parseKeystore, readSecretFile } from "../consensus/keys/keystore.ts";
import {
  action,
  amountOption,
  type ClientOpts,
  ComputeCliError,
  ComputeCliErrorCode,
  clientOptions,
  explain,
  loadSigner,
  NodeClient,
  Output,
  ogpu,
  readInputFile,
  requireSigner,
} from "./compute-client.ts";
import { parseInteger } from "./options.ts";

const REGISTRY = SYSTEM_CONTRACT_ADDRESSES.providerRegistry as Hex;

const invalid = (message: string) => new ComputeCliError(ComputeCliErrorCode.INVALID_ARGUMENT, message);

function parseAddress(value: string): Hex {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value))
    throw new InvalidArgumentError("an address is 0x and 40 hex digits");
  return value.toLowerCase() as Hex;
}

function parseModels(value: string): Hex[] {
  const models = value
    .split(",")
    .map((m) => m.trim())
    .filter((m) => m !== "");
  for (const m of models)
    if (!/^0x[0-9a-fA-F]{64}$/.test(m))
      throw new InvalidArgumentError(`${m} is not a model sha256 (0x and 64 hex digits)`);
  return models.map((m) => m.toLowerCase() as Hex);
}

async function blsKeyFrom(opts: {
  blsKey?: string;
  blsKeystore?: string;
  blsPasswordFile?: string;
}): Promise<SecretKey> {
  if ((opts.blsKey === undefined) === (opts.blsKeystore === undefined))
    throw invalid(
      "give the provider's BLS key: --bls-keystore FILE --bls-password-file FILE (or --bls-key HEX on a dev chain)",
    );
  if (opts.blsKey !== undefined) {
    const hex = opts.blsKey.trim().replace(/^0x/, "");
    if (!/^[0-9a-fA-F]{64}$/.test(hex))
      throw invalid("--bls-key must be a BLS secret key: 32 bytes as 64 hex digits");
    try {
      return SecretKey.fromBytes(Buffer.from(hex, "hex"));
    } catch {
      throw invalid("--bls-key is not a valid BLS12-381 secret key");
    }
  }
  const file = opts.blsKeystore as string;
  if (opts.blsPasswordFile === undefined) throw invalid("--bls-keystore needs --bls-password-file");
  const password = readSecretFile(opts.blsPasswordFile);
  const keystore = parseKeystore(new TextDecoder().decode(readInputFile(file, "BLS keystore")), file);
  return decryptKeystore(keystore, password, file);
}

async function readProvider(node: NodeClient, address: Hex) {
  try {
    return await node.public.readContract({
      address: REGISTRY,
      abi: PROVIDER_REGISTRY_ABI,
      functionName: "getProvider",
      args: [address],
    });
  } catch (err) {
    const e = explain(err, `provider ${address}`, ComputeCliErrorCode.NOT_FOUND);
    if (e.code === ComputeCliErrorCode.NOT_FOUND)
      throw new ComputeCliError(ComputeCliErrorCode.NOT_FOUND, `${address} is not a registered provider`);
    throw e;
  }
}

type Provider = Awaited<ReturnType<typeof readProvider>>;

const statusOf = (p: Provider) => PROVIDER_STATUSES[p.status] ?? `Unknown(${p.status})`;
const time = (t: bigint) => (t === 0n ? null : Number(t));
const when = (t: bigint) => (t === 0n ? "-" : `${new Date(Number(t) * 1000).toISOString()} (${t})`);

function providerJson(p: Provider): Record<string, unknown> {
  return {
    address: p.account.toLowerCase(),
    status: statusOf(p),
    stake: formatOgpu(p.stake),
    unbonding: formatOgpu(p.unbonding),
    withdrawableAt: time(p.withdrawableAt),
    blsPubkey: p.blsPubkey,
    gpu: {
      device: p.gpu.device,
      memoryMiB: Number(p.gpu.memoryMiB),
      executionProvider: p.gpu.executionProvider,
    },
    models: [...p.models],
    price: formatOgpu(p.price),
    peerId: p.peerId,
    registeredAt: time(p.registeredAt),
    jailedUntil: time(p.jailedUntil),
    slashed: formatOgpu(p.slashed),
  };
}

function providerLines(p: Provider): string[] {
  return [
    `provider ${p.account.toLowerCase()}: ${statusOf(p)}`,
    `  stake        ${ogpu(p.stake)}${p.unbonding > 0n ? `   unbonding ${ogpu(p.unbonding)} until ${when(p.withdrawableAt)}` : ""}`,
    `  slashed      ${ogpu(p.slashed)}${p.jailedUntil > 0n ? `   jailed until ${when(p.jailedUntil)}` : ""}`,
    `  BLS key      ${p.blsPubkey}`,
    `  GPU          ${p.gpu.device} (${p.gpu.memoryMiB} MiB, ${p.gpu.executionProvider})`,
    `  models       ${p.models.length === 0 ? "-" : p.models.join(", ")}`,
    `  price        ${ogpu(p.price)}`,
    `  peer id      ${p.peerId || "-"}`,
    `  registered   ${when(p.registeredAt)}`,
  ];
}

interface RegisterOpts extends ClientOpts {
  stake: bigint;
  blsKey?: string;
  blsKeystore?: string;
  blsPasswordFile?: string;
  models?: Hex[];
  price: bigint;
  gpuDevice: string;
  gpuMemory: number;
  executionProvider: string;
  peerId: string;
}

function registerCommand(): Command {
  const cmd = new Command("register")
    .description(
      "register as a compute provider: stake, BLS key (proof of possession signed here), GPU and service",
    )
    .requiredOption(
      "--stake <ogpu>",
      "stake to lock, in oGPU (at least the registry's minimum)",
      amountOption,
    )
    .option("--bls-key <hex>", "the BLS secret key that signs committee attestations (dev chains only)")
    .option("--bls-keystore <file>", "EIP-2335 keystore of that BLS key")
    .option("--bls-password-file <file>", "file holding the BLS keystore's password")
    .option("--models <sha256,...>", "models served (comma-separated sha256 hashes)", parseModels)
    .addOption(
      new Option("--price <ogpu>", "advertised price per task, in oGPU")
        .argParser(amountOption)
        .default(0n, "0"),
    )
    .option("--gpu-device <name>", "GPU model (or cpu)", "cpu")
    .option("--gpu-memory <MiB>", "GPU memory in MiB", parseInteger, 0)
    .addOption(
      new Option("--execution-provider <name>", "onnxruntime execution provider")
        .choices(["cpu", "cuda"])
        .default("cpu"),
    )
    .option("--peer-id <id>", "libp2p peer id of the provider's node", "");
  clientOptions(cmd, true);
  return cmd.action(
    action(async (opts: RegisterOpts) => {
      const out = new Output(opts.json);
      const blsKey = await blsKeyFrom(opts);
      const account = await requireSigner(opts);
      const node = await NodeClient.connect(opts);
      const pubkey = blsKey.toPublicKey().toBytes();
      const pop = blsKey.sign(popMessage(BigInt(node.chain.id), account.address, pubkey)).toBytes();
      const receipt = await node.send(account, {
        address: REGISTRY,
        abi: PROVIDER_REGISTRY_ABI,
        functionName: "register",
        args: [
          toHex(pubkey),
          toHex(pop),
          {
            device: opts.gpuDevice,
            memoryMiB: BigInt(opts.gpuMemory),
            executionProvider: opts.executionProvider,
          },
          opts.models ?? [],
          opts.price,
          opts.peerId,
        ],
        value: opts.stake,
      });
      const p = await readProvider(node, account.address);
      out.result({ ...providerJson(p), tx: receipt.transactionHash }, [
        `registered ${account.address.toLowerCase()} with ${ogpu(opts.stake)} staked (tx ${receipt.transactionHash})`,
        ...providerLines(p),
      ]);
    }),
  );
}

function statusCommand(): Command {
  const cmd = new Command("status")
    .description("show a provider: status, stake, unbonding, BLS key, GPU, models, price")
    .argument("[address]", "provider address (default: the signer's)", parseAddress);
  clientOptions(cmd, true);
  return cmd.action(
    action(async (address: Hex | undefined, opts: ClientOpts) => {
      const out = new Output(opts.json);
      const who = address ?? (await loadSigner(opts))?.address;
      if (who === undefined) throw invalid("give the provider's ADDRESS, or a signer (--keystore or --key)");
      const node = await NodeClient.connect(opts);
      const p = await readProvider(node, who.toLowerCase() as Hex);
      out.result(providerJson(p), providerLines(p));
    }),
  );
}

interface UpdateOpts extends ClientOpts {
  models?: Hex[];
  price?: bigint;
  peerId?: string;
}

function updateCommand(): Command {
  const cmd = new Command("update")
    .description("change the models served, the price or the peer id (what is not given stays)")
    .option(
      "--models <sha256,...>",
      'models served (comma-separated sha256 hashes; "" for none)',
      parseModels,
    )
    .option("--price <ogpu>", "advertised price per task, in oGPU", amountOption)
    .option("--peer-id <id>", "libp2p peer id of the provider's node");
  clientOptions(cmd, true);
  return cmd.action(
    action(async (opts: UpdateOpts) => {
      const out = new Output(opts.json);
      if (opts.models === undefined && opts.price === undefined && opts.peerId === undefined)
        throw invalid("nothing to update: give --models, --price or --peer-id");
      const account = await requireSigner(opts);
      const node = await NodeClient.connect(opts);
      const current = await readProvider(node, account.address);
      const receipt = await node.send(account, {
        address: REGISTRY,
        abi: PROVIDER_REGISTRY_ABI,
        functionName: "updateService",
        args: [
          opts.models ?? [...current.models],
          opts.price ?? current.price,
          opts.peerId ?? current.peerId,
        ],
      });
      const p = await readProvider(node, account.address);
      out.result({ ...providerJson(p), tx: receipt.transactionHash }, [
        `service of ${account.address.toLowerCase()} updated (tx ${receipt.transactionHash})`,
        ...providerLines(p),
      ]);
    }),
  );
}

/** add-stake, unbond and withdraw: one transaction, then the provider's record. */
function stakeCommand(
  name: "add-stake" | "unbond" | "withdraw",
  description: string,
  summary: (amount: bigint | undefined, p: Provider, withdrawn: bigint | undefined) => string,
): Command {
  const cmd = new Command(name).description(description);
  if (name !== "withdraw") cmd.argument("<amount>", "amount in oGPU", amountOption);
  clientOptions(cmd, true);
  return cmd.action(
    action(async (...args: unknown[]) => {
      const amount = name === "withdraw" ? undefined : (args[0] as bigint);
      const opts = (name === "withdraw" ? args[0] : args[1]) as ClientOpts;
      const out = new Output(opts.json);
      if (amount !== undefined && amount === 0n) throw invalid(`${name}: the amount must be above 0`);
      const account = await requireSigner(opts);
      const node = await NodeClient.connect(opts);
      const receipt = await node.send(account, {
        address: REGISTRY,
        abi: PROVIDER_REGISTRY_ABI,
        functionName: name === "add-stake" ? "addStake" : name,
        args: name === "unbond" ? [amount] : [],
        value: name === "add-stake" ? amount : undefined,
      });
      const withdrawn =
        name === "withdraw"
          ? parseEventLogs({ abi: PROVIDER_REGISTRY_ABI, logs: receipt.logs, eventName: "Withdrawn" })[0]
              ?.args.amount
          : undefined;
      const p = await readProvider(node, account.address);
      out.result(
        {
          ...providerJson(p),
          ...(withdrawn !== undefined ? { withdrawn: formatOgpu(withdrawn) } : {}),
          tx: receipt.transactionHash,
        },
        [`${summary(amount, p, withdrawn)} (tx ${receipt.transactionHash})`, ...providerLines(p)],
      );
    }),
  );
}

export function registerProviderCommands(program: Command): void {
  program.addCommand(
    new Command("provider")
      .description(
        "register and manage a compute provider's stake and service (talks to any node over JSON-RPC)",
      )
      .addCommand(registerCommand())
      .addCommand(statusCommand())
      .addCommand(updateCommand())
      .addCommand(
        stakeCommand(
          "add-stake",
          "add stake",
          (amount, p) => `added ${ogpu(amount ?? 0n)}: stake ${ogpu(p.stake)}`,
        ),
      )
      .addCommand(
        stakeCommand(
          "unbond",
          "move stake to unbonding; it can be withdrawn after the unbonding period and stays slashable until then",
          (amount, p) =>
            `unbonding ${ogpu(amount ?? 0n)} until ${when(p.withdrawableAt)}: stake ${ogpu(p.stake)}`,
        ),
      )
      .addCommand(
        stakeCommand(
          "withdraw",
          "pay out unbonded stake whose unbonding period has passed",
          (_amount, _p, withdrawn) => `withdrew ${ogpu(withdrawn ?? 0n)}`,
        ),
      ),
  );
}
