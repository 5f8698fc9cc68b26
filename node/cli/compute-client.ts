/**
 * What the compute commands (`opengpu task ...`, `opengpu provider ...`) share: the connection to
 * any node's JSON-RPC (`--rpc`), the signer (`--key` for dev chains, `--keystore` with
 * `--password-file` otherwise: an Ethereum V3 JSON keystore, decrypted here), transactions to the
 * system contracts through viem (chain id from `eth_chainId`, simulated first so a revert reason
 * is the error message, then sent and waited for), oGPU amounts, blob upload and download over
 * the `opengpu_` methods, and the output (`--json`: one JSON object on the last line of stdout,
 * progress on stderr).
 *
 * Secrets (private keys, passwords) come from argv (`--key`, dev only) or files; they never reach
 * an error message or the output.
 */
import { timingSafeEqual } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { decrypt as aesDecrypt } from "ethereum-cryptography/aes";
import { keccak256 as keccak } from "ethereum-cryptography/keccak";
import { pbkdf2 } from "ethereum-cryptography/pbkdf2";
import { scrypt } from "ethereum-cryptography/scrypt";
import {
  type Abi,
  BaseError,
  type Chain,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  HttpRequestError,
  http,
  InsufficientFundsError,
  type PublicClient,
  TimeoutError,
  type TransactionReceipt,
  type Transport,
  WaitForTransactionReceiptTimeoutError,
  type WalletClient,
} from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { formatOgpu, ONE_OGPU } from "../../genesis/token.ts";
import { sha256Hex } from "../compute-layer/runtime/tensor.ts";
import { readSecretFile } from "../consensus/keys/keystore.ts";
import { errorMessage, OpenGpuError } from "../utils/errors.ts";
import { parseInteger } from "./options.ts";

export const ComputeCliErrorCode = {
  /** A malformed flag value or argument (amount, hash, file, shape). */
  INVALID_ARGUMENT: "COMPUTE_CLI_INVALID_ARGUMENT",
  /** The signer could not be loaded (bad key, keystore, wrong password). */
  SIGNER: "COMPUTE_CLI_SIGNER",
  /** The node could not be reached or answered with an error. */
  RPC: "COMPUTE_CLI_RPC",
  /** No such task, provider, model or blob. */
  NOT_FOUND: "COMPUTE_CLI_NOT_FOUND",
  /** A transaction would revert or reverted (the message carries the reason). */
  REVERTED: "COMPUTE_CLI_REVERTED",
  /** A transaction was not mined in time. */
  TIMEOUT: "COMPUTE_CLI_TIMEOUT",
  /** Downloaded bytes do not match their hash. */
  INTEGRITY: "COMPUTE_CLI_INTEGRITY",
  /** The task is not in a state the command works on. */
  WRONG_STATE: "COMPUTE_CLI_WRONG_STATE",
} as const;
export type ComputeCliErrorCode = (typeof ComputeCliErrorCode)[keyof typeof ComputeCliErrorCode];

export class ComputeCliError extends OpenGpuError<ComputeCliErrorCode> {
  override name = "ComputeCliError";
}

const invalid = (message: string) => new ComputeCliError(ComputeCliErrorCode.INVALID_ARGUMENT, message);

// --- options --------------------------------------------------------------------------------

export interface ClientOpts {
  rpc: string;
  json?: boolean;
  timeout: number;
  key?: string;
  keystore?: string;
  passwordFile?: string;
}

/** `--rpc`, `--json`, `--timeout`, and with `signer` the signer flags. */
export function clientOptions(cmd: Command, signer: boolean): Command {
  cmd.option("--rpc <url>", "JSON-RPC endpoint of any OpenGPU node", "http://127.0.0.1:8545");
  if (signer)
    cmd
      .option("--key <hex>", "sign with this private key (dev chains only: it shows in the process list)")
      .option(
        "--keystore <file>",
        "sign with this Ethereum V3 JSON keystore (geth, Foundry, MetaMask export)",
      )
      .option("--password-file <file>", "file holding the keystore's password");
  return cmd
    .option("--timeout <seconds>", "how long to wait for each transaction to be mined", parseInteger, 120)
    .option("--json", "print one JSON object on the last line of stdout (progress goes to stderr)");
}

/** Parses an oGPU amount ("1.5", "100", up to 18 decimals) into wei; `what` names it in errors. */
export function parseAmount(value: string, what: string): bigint {
  const text = value.trim();
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (match === null)
    throw invalid(`${what}: ${JSON.stringify(value)} is not an oGPU amount (a decimal number such as 1.5)`);
  const fraction = match[2] ?? "";
  if (fraction.length > 18)
    throw invalid(`${what}: ${value} has more than 18 decimals (1 wei is 0.000000000000000001)`);
  return BigInt(match[1]) * ONE_OGPU + BigInt(fraction.padEnd(18, "0"));
}

/** commander parser for an oGPU amount option. */
export function amountOption(value: string): bigint {
  try {
    return parseAmount(value, "amount");
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err).replace(/^amount: /, ""));
  }
}

/** oGPU with its unit, for people: "1.5 oGPU". */
export const ogpu = (wei: bigint) => `${formatOgpu(wei)} oGPU`;

// --- output ---------------------------------------------------------------------------------

export class Output {
  readonly json: boolean;

  constructor(json: boolean | undefined) {
    this.json = json === true;
  }

  /** A progress line: stdout for people, stderr with --json. */
  info(line: string): void {
    (this.json ? process.stderr : process.stdout).write(`${line}\n`);
  }

  /** The result: `lines` for people, or `value` as one JSON line. */
  result(value: Record<string, unknown>, lines: string[]): void {
    if (this.json) process.stdout.write(`${JSON.stringify(value)}\n`);
    else process.stdout.write(`${lines.join("\n")}\n`);
  }
}

/**
 * Runs a command's action; with --json a failure also prints `{"error": {code, message}}` on the
 * last line of stdout before the error reaches the CLI's handler (stderr, exit code 1).
 */
export function action<A extends unknown[]>(
  run: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await run(...args);
    } catch (err) {
      const opts = args.find(
        (a): a is { json?: boolean } => typeof a === "object" && a !== null && "rpc" in (a as object),
      );
      if (opts?.json === true) {
        const code = err instanceof OpenGpuError ? err.code : "ERROR";
        process.stdout.write(`${JSON.stringify({ error: { code, message: errorMessage(err) } })}\n`);
      }
      throw err;
    }
  };
}

/** Writes `bytes` to `file` through a temporary file (complete or absent). */
export function writeFileAtomic(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}

/** A file's bytes; `what` names it in errors. */
export function readInputFile(file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw invalid(`cannot read ${what} ${file} (${code})`);
  }
}

// --- signer ---------------------------------------------------------------------------------

/** Largest key-derivation work a keystore may ask for (bounds memory and time on load). */
const MAX_SCRYPT_N = 2 ** 20;
const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024;
const MAX_PBKDF2_C = 2 ** 24;

function keystoreError(file: string, why: string): ComputeCliError {
  return new ComputeCliError(ComputeCliErrorCode.SIGNER, `${file}: ${why}`);
}

function hexField(o: Record<string, unknown>, key: string, file: string, bytes?: number): Uint8Array {
  const v = o[key];
  if (typeof v !== "string" || !/^(0x)?([0-9a-fA-F]{2})+$/.test(v))
    throw keystoreError(file, `not a V3 keystore: ${key} is not hex`);
  const out = Uint8Array.from(Buffer.from(v.replace(/^0x/, ""), "hex"));
  if (bytes !== undefined && out.length !== bytes)
    throw keystoreError(file, `not a V3 keystore: ${key} is not ${bytes} bytes`);
  return out;
}

function intField(o: Record<string, unknown>, key: string, file: string, max: number): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 || v > max)
    throw keystoreError(file, `keystore ${key} ${String(v)} is out of range (1 to ${max})`);
  return v;
}

/**
 * Decrypts an Ethereum V3 keystore (Web3 Secret Storage: scrypt or PBKDF2-HMAC-SHA256,
 * AES-128-CTR, MAC = keccak256(derivedKey[16..32] ++ ciphertext)); returns the private key.
 * `file` names the keystore in errors; a wrong password is reported as such.
 */
export async function decryptV3Keystore(text: string, password: string, file: string): Promise<Uint8Array> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw keystoreError(file, "not a JSON keystore");
  }
  const root = json as Record<string, unknown>;
  if (typeof json !== "object" || json === null || root.version !== 3)
    throw keystoreError(file, "not an Ethereum V3 keystore (version must be 3)");
  const crypto = (root.crypto ?? root.Crypto) as Record<string, unknown> | undefined;
  if (typeof crypto !== "object" || crypto === null)
    throw keystoreError(file, "not a V3 keystore: no crypto section");
  if (crypto.cipher !== "aes-128-ctr")
    throw keystoreError(file, `unsupported cipher ${String(crypto.cipher)} (aes-128-ctr is supported)`);
  const params = crypto.kdfparams as Record<string, unknown> | undefined;
  if (typeof params !== "object" || params === null)
    throw keystoreError(file, "not a V3 keystore: no kdfparams");
  const cipherparams = (crypto.cipherparams ?? {}) as Record<string, unknown>;
  const iv = hexField(cipherparams, "iv", file, 16);
  const ciphertext = hexField(crypto, "ciphertext", file);
  const mac = hexField(crypto, "mac", file, 32);
  const salt = hexField(params, "salt", file);
  const dklen = intField(params, "dklen", file, 64);
  if (dklen < 32) throw keystoreError(file, `keystore dklen ${dklen} is below 32`);
  const derive = async (pass: Uint8Array): Promise<Uint8Array> => {
    if (crypto.kdf === "scrypt") {
      const n = intField(params, "n", file, MAX_SCRYPT_N);
      const r = intField(params, "r", file, 64);
      const p = intField(params, "p", file, 64);
      if ((n & (n - 1)) !== 0 || n < 2) throw keystoreError(file, `scrypt n ${n} is not a power of two`);
      if (128 * n * r > MAX_SCRYPT_MEMORY)
        throw keystoreError(file, "scrypt parameters need more than 1 GiB");
      return scrypt(pass, salt, n, p, r, dklen);
    }
    if (crypto.kdf === "pbkdf2") {
      if (params.prf !== "hmac-sha256")
        throw keystoreError(file, `unsupported pbkdf2 prf ${String(params.prf)} (hmac-sha256 is supported)`);
      return pbkdf2(pass, salt, intField(params, "c", file, MAX_PBKDF2_C), dklen, "sha256");
    }
    throw keystoreError(file, `unsupported kdf ${String(crypto.kdf)} (scrypt and pbkdf2 are supported)`);
  };
  const macMatches = (dk: Uint8Array) =>
    timingSafeEqual(keccak(Buffer.concat([dk.subarray(16, 32), ciphertext])), mac);
  // geth hashes the password's bytes as they are, ethers its NFKC form: the two differ only for
  // some non-ASCII passwords, so the NFKC form is tried when the first does not match.
  const encoder = new TextEncoder();
  let derived = await derive(encoder.encode(password));
  if (!macMatches(derived) && password.normalize("NFKC") !== password)
    derived = await derive(encoder.encode(password.normalize("NFKC")));
  if (!macMatches(derived)) throw keystoreError(file, "wrong password (the keystore's MAC does not match)");
  const key = aesDecrypt(ciphertext, derived.subarray(0, 16), iv, "aes-128-ctr");
  derived.fill(0);
  if (key.length !== 32) throw keystoreError(file, `the decrypted key is ${key.length} bytes, not 32`);
  return key;
}

/** The signer from --key or --keystore/--password-file; undefined when neither is given. */
export async function loadSigner(opts: ClientOpts): Promise<PrivateKeyAccount | undefined> {
  if (opts.key !== undefined && opts.keystore !== undefined)
    throw new ComputeCliError(ComputeCliErrorCode.SIGNER, "give either --key or --keystore, not both");
  if (opts.key !== undefined) {
    const hex = opts.key.trim().replace(/^0x/, "");
    if (!/^[0-9a-fA-F]{64}$/.test(hex))
      throw new ComputeCliError(
        ComputeCliErrorCode.SIGNER,
        "--key must be a private key: 32 bytes as 64 hex digits",
      );
    try {
      return privateKeyToAccount(`0x${hex.toLowerCase()}`);
    } catch {
      throw new ComputeCliError(ComputeCliErrorCode.SIGNER, "--key is not a valid secp256k1 private key");
    }
  }
  if (opts.keystore !== undefined) {
    if (opts.passwordFile === undefined)
      throw new ComputeCliError(ComputeCliErrorCode.SIGNER, "--keystore needs --password-file");
    const password = readSecretFile(opts.passwordFile);
    let text: string;
    try {
      text = readFileSync(opts.keystore, "utf8");
    } catch (err) {
      throw keystoreError(
        opts.keystore,
        `cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
    const key = await decryptV3Keystore(text, password, opts.keystore);
    let account: PrivateKeyAccount;
    try {
      account = privateKeyToAccount(`0x${Buffer.from(key).toString("hex")}`);
    } catch {
      throw keystoreError(opts.keystore, "the decrypted key is not a valid secp256k1 private key");
    } finally {
      key.fill(0);
    }
    const declared = (JSON.parse(text) as { address?: unknown }).address;
    if (
      typeof declared === "string" &&
      declared.replace(/^0x/, "").toLowerCase() !== account.address.slice(2).toLowerCase()
    )
      throw keystoreError(
        opts.keystore,
        `the key belongs to ${account.address}, not the keystore's address ${declared}`,
      );
    return account;
  }
  return undefined;
}

export async function requireSigner(opts: ClientOpts): Promise<PrivateKeyAccount> {
  const account = await loadSigner(opts);
  if (account === undefined)
    throw new ComputeCliError(
      ComputeCliErrorCode.SIGNER,
      "this command sends a transaction: give a signer with --keystore FILE --password-file FILE (or --key HEX on a dev chain)",
    );
  return account;
}

// --- node connection ------------------------------------------------------------------------

interface RpcErrorBody {
  code: number;
  message: string;
  data?: unknown;
}

/** A JSON-RPC error answered by the node. */
export class NodeRpcError extends ComputeCliError {
  readonly rpcCode: number;
  readonly data: unknown;

  constructor(method: string, error: RpcErrorBody) {
    super(
      error.code === -32001 ? ComputeCliErrorCode.NOT_FOUND : ComputeCliErrorCode.RPC,
      `${method}: ${error.message}`,
      { rpcCode: error.code },
    );
    this.rpcCode = error.code;
    this.data = error.data;
  }
}

/** A connection to a node: viem clients for eth_ and contracts, raw calls for opengpu_. */
export class NodeClient {
  readonly url: string;
  readonly chain: Chain;
  readonly public: PublicClient;
  readonly timeoutMs: number;
  private id = 0;

  private constructor(url: string, chain: Chain, timeoutMs: number) {
    this.url = url;
    this.chain = chain;
    this.timeoutMs = timeoutMs;
    this.public = createPublicClient({
      chain,
      transport: http(url, { retryCount: 0, timeout: 30_000 }),
      pollingInterval: 500,
    }) as PublicClient;
  }

  static async connect(opts: ClientOpts): Promise<NodeClient> {
    let url: URL;
    try {
      url = new URL(opts.rpc);
    } catch {
      throw invalid(`--rpc ${opts.rpc} is not a URL (e.g. http://127.0.0.1:8545)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw invalid(`--rpc ${opts.rpc}: only http:// and https:// endpoints are supported`);
    const probe = new NodeClient(opts.rpc, defineChain(chainOf(0, opts.rpc)), opts.timeout * 1000);
    const id = Number(BigInt(await probe.call<string>("eth_chainId", [])));
    return new NodeClient(opts.rpc, defineChain(chainOf(id, opts.rpc)), opts.timeout * 1000);
  }

  /** A raw JSON-RPC call; node errors become NodeRpcError. */
  async call<T>(method: string, params: unknown[]): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++this.id, method, params }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? errorMessage(err);
      throw new ComputeCliError(ComputeCliErrorCode.RPC, `cannot reach the node at ${this.url} (${why})`);
    }
    let body: { result?: T; error?: RpcErrorBody };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      throw new ComputeCliError(
        ComputeCliErrorCode.RPC,
        `${method}: the node at ${this.url} answered HTTP ${response.status} without JSON-RPC`,
      );
    }
    if (body.error !== undefined) throw new NodeRpcError(method, body.error);
    return body.result as T;
  }

  wallet(account: PrivateKeyAccount): WalletClient<Transport, Chain, PrivateKeyAccount> {
    return createWalletClient({
      chain: this.chain,
      account,
      transport: http(this.url, { retryCount: 0, timeout: 30_000 }),
    });
  }

  /** Reads a view function; a revert becomes NOT_FOUND with the contract's reason. */
  async read<T>(args: {
    address: Hex;
    abi: Abi;
    functionName: string;
    args: readonly unknown[];
  }): Promise<T> {
    try {
      return (await this.public.readContract(args as never)) as T;
    } catch (err) {
      throw explain(err, args.functionName, ComputeCliErrorCode.NOT_FOUND);
    }
  }

  /**
   * Sends a transaction to a contract from `account`: simulated first (a revert reason becomes
   * the error), then signed, sent and waited for. Returns the successful receipt.
   */
  async send(
    account: PrivateKeyAccount,
    tx: { address: Hex; abi: Abi; functionName: string; args: readonly unknown[]; value?: bigint },
  ): Promise<TransactionReceipt> {
    let request: unknown;
    try {
      ({ request } = await this.public.simulateContract({ ...tx, account } as never));
    } catch (err) {
      throw explain(err, tx.functionName, ComputeCliErrorCode.REVERTED);
    }
    let hash: Hex;
    try {
      hash = await this.wallet(account).writeContract(request as never);
    } catch (err) {
      throw explain(err, tx.functionName, ComputeCliErrorCode.REVERTED);
    }
    let receipt: TransactionReceipt;
    try {
      receipt = await this.public.waitForTransactionReceipt({
        hash,
        timeout: this.timeoutMs,
        pollingInterval: 500,
      });
    } catch (err) {
      if (err instanceof WaitForTransactionReceiptTimeoutError)
        throw new ComputeCliError(
          ComputeCliErrorCode.TIMEOUT,
          `${tx.functionName}: transaction ${hash} was not mined within ${this.timeoutMs / 1000} s (it may still be: raise --timeout)`,
          { tx: hash },
        );
      throw explain(err, tx.functionName, ComputeCliErrorCode.RPC);
    }
    if (receipt.status !== "success") {
      // The reason, from the same call on the state before the block.
      let reason = "";
      try {
        await this.public.simulateContract({
          ...tx,
          account,
          blockNumber: receipt.blockNumber - 1n,
        } as never);
      } catch (err) {
        reason = `: ${explain(err, tx.functionName, ComputeCliErrorCode.REVERTED).message.replace(/^[^:]+: /, "")}`;
      }
      throw new ComputeCliError(
        ComputeCliErrorCode.REVERTED,
        `${tx.functionName}: transaction ${hash} reverted in block ${receipt.blockNumber}${reason}`,
        { tx: hash },
      );
    }
    return receipt;
  }

  /** Uploads `bytes` to the node's blob store (in parts when large, resuming a cut upload). */
  async putBlob(bytes: Uint8Array, part = BLOB_PART): Promise<Hex> {
    const sha256 = sha256Hex(bytes);
    if (bytes.length <= part) {
      const stored = await this.call<Hex>("opengpu_putBlob", [hexOf(bytes)]);
      if (stored !== sha256)
        throw new ComputeCliError(
          ComputeCliErrorCode.INTEGRITY,
          `the node stored the blob as ${stored}, not ${sha256}`,
        );
      return sha256;
    }
    let offset = 0;
    for (;;) {
      let progress: { received: string; complete: boolean };
      try {
        progress = await this.call("opengpu_putBlobPart", [
          sha256,
          quantity(bytes.length),
          quantity(offset),
          hexOf(bytes.subarray(offset, offset + part)),
        ]);
      } catch (err) {
        // An earlier upload of the same blob was cut: resume where the node is.
        const received = (err as NodeRpcError).data as { received?: number } | undefined;
        if (
          err instanceof NodeRpcError &&
          typeof received?.received === "number" &&
          received.received !== offset
        ) {
          offset = received.received;
          continue;
        }
        throw err;
      }
      if (progress.complete) return sha256;
      offset = Number(BigInt(progress.received));
    }
  }

  /** Downloads blob `sha256` (from the node, which fetches it from peers if needed) and checks it. */
  async getBlob(sha256: Hex): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      bytes = bytesOf(await this.call<Hex>("opengpu_getBlob", [sha256]));
    } catch (err) {
      const size =
        err instanceof NodeRpcError ? (err.data as { size?: number } | undefined)?.size : undefined;
      if (!(err instanceof NodeRpcError) || err.rpcCode !== -32005 || typeof size !== "number") throw err;
      // Larger than one answer: read it in ranges.
      const parts: Uint8Array[] = [];
      for (let offset = 0; offset < size; offset += BLOB_RANGE) {
        const length = Math.min(BLOB_RANGE, size - offset);
        parts.push(
          bytesOf(await this.call<Hex>("opengpu_getBlob", [sha256, quantity(offset), quantity(length)])),
        );
      }
      bytes = Buffer.concat(parts);
    }
    const actual = sha256Hex(bytes);
    if (actual !== sha256)
      throw new ComputeCliError(
        ComputeCliErrorCode.INTEGRITY,
        `the bytes the node returned for ${sha256} hash to ${actual}: refusing them`,
      );
    return bytes;
  }
}

/** Bytes per upload part: 2 MiB of hex, well under the default 5 MiB request body limit. */
const BLOB_PART = 1024 * 1024;
/** Bytes per ranged download. */
const BLOB_RANGE = 4 * 1024 * 1024;

const quantity = (n: number | bigint) => `0x${BigInt(n).toString(16)}`;
const hexOf = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString("hex")}`;
const bytesOf = (h: Hex) => Uint8Array.from(Buffer.from(h.slice(2), "hex"));

function chainOf(id: number, url: string) {
  return {
    id,
    name: "OpenGPU",
    nativeCurrency: { name: "oGPU", symbol: "oGPU", decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  };
}

/** A viem error as a ComputeCliError: the revert reason, or viem's short message. */
export function explain(err: unknown, what: string, revertCode: ComputeCliErrorCode): ComputeCliError {
  if (err instanceof ComputeCliError) return err;
  if (err instanceof BaseError) {
    const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError)
      return new ComputeCliError(revertCode, `${what}: ${reverted.reason ?? "reverted without a reason"}`);
    if (err.walk((e) => e instanceof InsufficientFundsError) !== null)
      return new ComputeCliError(
        ComputeCliErrorCode.REVERTED,
        `${what}: insufficient funds for gas * price + value in the signer's account`,
      );
    if (err.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError) !== null)
      return new ComputeCliError(
        ComputeCliErrorCode.RPC,
        `${what}: cannot reach the node (${err.shortMessage})`,
      );
    const details = (err as BaseError & { details?: string }).details;
    return new ComputeCliError(ComputeCliErrorCode.RPC, `${what}: ${details || err.shortMessage}`);
  }
  return new ComputeCliError(ComputeCliErrorCode.RPC, `${what}: ${errorMessage(err)}`);
}
