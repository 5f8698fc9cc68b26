/**
 * `opengpu keys exit`: signs voluntary exits with the key directory's keystores and submits
 * them to a node's Beacon API (`POST /eth/v1/beacon/pool/voluntary_exits`), which checks them
 * against its head state before they enter its operation pool. An exit cannot be undone, so
 * the command needs `--yes`.
 *
 * The signing domain is the Capella fork's (EIP-7044: exits stay valid across later forks), with
 * the network's genesis validators root, both read from the node.
 */
import { hexToBytes } from "@ethereumjs/util";
import { Command, CommanderError } from "commander";

interface ExitOpts {
  keysDir?: string;
  datadir?: string;
  passwordFile: string;
  beaconUrl: string;
  pubkey?: string[];
  all?: boolean;
  epoch?: string;
  yes?: boolean;
}

async function getJson<T>(base: string, path: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, base));
  } catch (err) {
    throw new CommanderError(
      1,
      "opengpu.keys",
      `cannot reach the Beacon API at ${base}: ${(err as Error).message}`,
    );
  }
  const body = (await response.json()) as T & { message?: string };
  if (!response.ok)
    throw new CommanderError(1, "opengpu.keys", `${path}: ${response.status} ${body.message ?? ""}`);
  return body;
}

export function exitCommand(keysDirFrom: (opts: ExitOpts) => string): Command {
  return new Command("exit")
    .description(
      "sign voluntary exits for validators of the key directory and submit them to a node's Beacon API (irreversible: needs --yes)",
    )
    .option("--datadir <dir>", "node data directory (keys in DIR/keys)")
    .option("--keys-dir <dir>", "validator key directory (default: <datadir>/keys)")
    .requiredOption("--password-file <file>", "file holding the key directory's password")
    .option("--beacon-url <url>", "the node's Beacon API", "http://127.0.0.1:5052")
    .option("--pubkey <keys...>", "exit these validators (0x public keys)")
    .option("--all", "exit every validator of the key directory")
    .option("--epoch <n>", "epoch the exit becomes valid at (default: the head's epoch)")
    .option("--yes", "confirm: the validators stop validating and their stake is withdrawn")
    .action(async (opts: ExitOpts) => {
      if ((opts.pubkey === undefined) === (opts.all !== true)) {
        throw new CommanderError(2, "opengpu.keys", "name the validators to exit: --pubkey KEY... or --all");
      }
      if (opts.yes !== true) {
        throw new CommanderError(
          2,
          "opengpu.keys",
          "a voluntary exit cannot be undone: add --yes to confirm",
        );
      }
      // Loaded on demand: Lodestar's preset is fixed when @lodestar/params first loads.
      const [{ loadValidatorKeysWithPasswordFile }, { DOMAIN_VOLUNTARY_EXIT, SLOTS_PER_EPOCH }, st, { ssz }] =
        await Promise.all([
          import("../consensus/keys/index.ts"),
          import("@lodestar/params"),
          import("@lodestar/state-transition"),
          import("@lodestar/types"),
        ]);
      const keysDir = keysDirFrom(opts);
      const keys = await loadValidatorKeysWithPasswordFile(keysDir, opts.passwordFile);
      const prefixed = (k: string) => (k.startsWith("0x") ? k : `0x${k}`).toLowerCase();
      const wanted = opts.all === true ? undefined : new Set(opts.pubkey?.map(prefixed));
      const chosen = keys.filter((k) => wanted === undefined || wanted.has(prefixed(k.pubkeyHex)));
      if (wanted !== undefined && chosen.length !== wanted.size) {
        const found = new Set(chosen.map((k) => prefixed(k.pubkeyHex)));
        const missing = [...wanted].filter((k) => !found.has(k));
        throw new CommanderError(1, "opengpu.keys", `not in ${keysDir}: ${missing.join(", ")}`);
      }
      if (chosen.length === 0) throw new CommanderError(1, "opengpu.keys", `no validator keys in ${keysDir}`);

      const base = opts.beaconUrl;
      const genesis = await getJson<{ data: { genesis_validators_root: string } }>(
        base,
        "/eth/v1/beacon/genesis",
      );
      const spec = await getJson<{ data: Record<string, string> }>(base, "/eth/v1/config/spec");
      const head = await getJson<{ data: { header: { message: { slot: string } } } }>(
        base,
        "/eth/v1/beacon/headers/head",
      );
      const epoch =
        opts.epoch !== undefined
          ? Number(opts.epoch)
          : Math.floor(Number(head.data.header.message.slot) / SLOTS_PER_EPOCH);
      if (!Number.isSafeInteger(epoch) || epoch < 0)
        throw new CommanderError(2, "opengpu.keys", "--epoch must be an epoch number");
      const capella = spec.data.CAPELLA_FORK_VERSION;
      if (capella === undefined)
        throw new CommanderError(1, "opengpu.keys", "the node's spec has no CAPELLA_FORK_VERSION");
      const domain = st.computeDomain(
        DOMAIN_VOLUNTARY_EXIT,
        hexToBytes(capella as `0x${string}`),
        hexToBytes(genesis.data.genesis_validators_root as `0x${string}`),
      );

      for (const key of chosen) {
        const pubkey = prefixed(key.pubkeyHex);
        const found = await getJson<{ data: { index: string }[] }>(
          base,
          `/eth/v1/beacon/states/head/validators?id=${pubkey}`,
        );
        if (found.data.length === 0) {
          throw new CommanderError(
            1,
            "opengpu.keys",
            `validator ${pubkey} is not in the beacon state (deposit not processed yet?)`,
          );
        }
        const message = { epoch, validatorIndex: Number(found.data[0].index) };
        const signature = key.secretKey
          .sign(st.computeSigningRoot(ssz.phase0.VoluntaryExit, message, domain))
          .toBytes();
        const body = ssz.phase0.SignedVoluntaryExit.toJson({ message, signature });
        const response = await fetch(new URL("/eth/v1/beacon/pool/voluntary_exits", base), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        if (!response.ok) {
          const reason = ((await response.json()) as { message?: string }).message ?? response.statusText;
          throw new CommanderError(
            1,
            "opengpu.keys",
            `exit of validator ${message.validatorIndex} (${pubkey}) refused: ${reason}`,
          );
        }
        process.stdout.write(
          `Submitted the voluntary exit of validator ${message.validatorIndex} (${pubkey}) at epoch ${epoch}\n`,
        );
      }
    });
}
