/**
 * A node's validator key directory (`<datadir>/keys` unless configured): EIP-2335 keystore files
 * named `keystore-*.json`, all encrypted with one password (the node's `--password-file`).
 *
 * Owns creating keys from a mnemonic, importing existing keystores, listing keys without
 * decrypting them, and loading (decrypting) every key for the in-process validator client. Files
 * are written atomically (temporary file, then rename) with mode 0600 in a 0700 directory; other
 * files in the directory (deposit data, notes) are ignored.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, join, resolve } from "node:path";
import type { SecretKey } from "@chainsafe/blst";
import { deriveSecretKey, mnemonicToSeed, signingKeyPath } from "./derivation.ts";
import { KeysError, KeysErrorCode } from "./errors.ts";
import {
  assertNewPassword,
  decryptKeystore,
  type EncryptOptions,
  encryptKeystore,
  type IKeystore,
  keystoreFileName,
  keystorePubkey,
  parseKeystore,
  readSecretFile,
} from "./keystore.ts";

/** A key in a key directory, as listed without its password. */
export interface KeyEntry {
  /** 0x-prefixed BLS public key. */
  pubkey: `0x${string}`;
  /** EIP-2334 derivation path ("" when the keystore has none). */
  path: string;
  /** Absolute path of the keystore file. */
  file: string;
  uuid: string;
}

/**
 * A decrypted validator key, ready for signing; structurally a validator client `ValidatorKey`
 * (`{ secretKey, pubkey }`) with where it came from.
 */
export interface LoadedKey {
  secretKey: SecretKey;
  /** 48-byte compressed public key. */
  pubkey: Uint8Array;
  /** The public key as 0x-prefixed hex. */
  pubkeyHex: `0x${string}`;
  path: string;
  file: string;
}

export interface CreateKeysOptions extends EncryptOptions {
  keysDir: string;
  mnemonic: string;
  password: string;
  /** Number of validators to derive (default 1). */
  count?: number;
  /** First validator index (default 0): keys `m/12381/3600/i/0/0` for i in start..start+count-1. */
  startIndex?: number;
  /** Unix seconds for file names (default now). */
  now?: number;
}

export interface CreatedKey extends KeyEntry {
  index: number;
  secretKey: SecretKey;
}

export type ImportStatus = "imported" | "duplicate";

export interface ImportResult {
  /** The file that was imported. */
  source: string;
  pubkey: `0x${string}`;
  path: string;
  status: ImportStatus;
  /** Where it is now in the key directory (for a duplicate: the file already there). */
  file: string;
}

export interface ImportOptions {
  keysDir: string;
  /** Keystore files, or directories whose `keystore*.json` files are imported. */
  sources: string[];
  /** Password of the keystores being imported. */
  password: string;
  /**
   * Re-encrypt the imported keys with this password (the key directory's) instead of copying
   * the files as they are.
   */
  newPassword?: string;
  encrypt?: EncryptOptions;
  now?: number;
}

export interface LoadOptions {
  /** Keystores decrypted at once (each scrypt 2^18 run holds 256 MiB); default 2. */
  concurrency?: number;
}

const KEYSTORE_FILE = /^keystore.*\.json$/;

/** Creates `count` keys from a mnemonic into the key directory and returns them. */
export async function createKeys(opts: CreateKeysOptions): Promise<CreatedKey[]> {
  assertNewPassword(opts.password);
  const count = opts.count ?? 1;
  const start = opts.startIndex ?? 0;
  if (!Number.isSafeInteger(count) || count < 1)
    throw new KeysError(KeysErrorCode.INVALID_PATH, "count must be at least 1");
  const seed = mnemonicToSeed(opts.mnemonic);
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const existing = new Map(listKeys(opts.keysDir).map((k) => [k.pubkey, k]));
  const derived: { index: number; path: string; secretKey: SecretKey; pubkey: `0x${string}` }[] = [];
  for (let index = start; index < start + count; index++) {
    const path = signingKeyPath(index);
    const secretKey = deriveSecretKey(seed, path);
    const pubkey = secretKey.toPublicKey().toHex() as `0x${string}`;
    const present = existing.get(pubkey);
    if (present !== undefined) {
      throw new KeysError(
        KeysErrorCode.KEY_EXISTS,
        `key ${path} (${pubkey}) is already in ${present.file}; choose another --start-index`,
        { pubkey, file: present.file },
      );
    }
    derived.push({ index, path, secretKey, pubkey });
  }
  ensureKeysDir(opts.keysDir);
  const created: CreatedKey[] = [];
  for (const key of derived) {
    const keystore = await encryptKeystore(key.secretKey, opts.password, key.path, opts);
    const file = writeKeystore(opts.keysDir, keystore, now);
    created.push({ ...key, file, uuid: keystore.uuid });
  }
  return created;
}

/**
 * Imports keystores into the key directory. Every keystore is decrypted with `password` first
 * (a wrong password or a corrupt file stops the import before anything is written); keys
 * already in the directory are reported as duplicates and left alone.
 */
export async function importKeystores(opts: ImportOptions): Promise<ImportResult[]> {
  const files = expandSources(opts.sources);
  if (files.length === 0) throw new KeysError(KeysErrorCode.INVALID_KEYSTORE, "no keystore files to import");
  const parsed: { source: string; keystore: IKeystore; secretKey: SecretKey }[] = [];
  for (const source of files) {
    const keystore = parseKeystore(readText(source), source);
    const secretKey = await decryptKeystore(keystore, opts.password, source);
    parsed.push({ source, keystore, secretKey });
  }
  const existing = new Map(listKeys(opts.keysDir).map((k) => [k.pubkey, k]));
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  ensureKeysDir(opts.keysDir);
  const results: ImportResult[] = [];
  for (const { source, keystore, secretKey } of parsed) {
    const pubkey = keystorePubkey(keystore);
    const present = existing.get(pubkey);
    if (present !== undefined) {
      results.push({ source, pubkey, path: keystore.path, status: "duplicate", file: present.file });
      continue;
    }
    const stored =
      opts.newPassword !== undefined
        ? await encryptKeystore(secretKey, opts.newPassword, keystore.path, {
            ...opts.encrypt,
            description: keystore.description,
          })
        : keystore;
    const name = KEYSTORE_FILE.test(basename(source)) ? basename(source) : keystoreFileName(stored, now);
    const file = writeKeystore(opts.keysDir, stored, now, name);
    existing.set(pubkey, { pubkey, path: keystore.path, file, uuid: stored.uuid });
    results.push({ source, pubkey, path: keystore.path, status: "imported", file });
  }
  return results;
}

/** The keys in a key directory (by file name), without decrypting them; none if it does not exist. */
export function listKeys(keysDir: string): KeyEntry[] {
  if (!existsSync(keysDir)) return [];
  return keystoreFiles(keysDir).map((file) => {
    const keystore = parseKeystore(readText(file), file);
    return { pubkey: keystorePubkey(keystore), path: keystore.path, file, uuid: keystore.uuid };
  });
}

/**
 * Decrypts every keystore of the key directory with the password, for the validator client.
 * Any keystore the password does not open is an error (the node must not start with a subset
 * of its validators silently missing). Returns keys in file-name order.
 */
export async function loadValidatorKeys(
  keysDir: string,
  password: string,
  opts: LoadOptions = {},
): Promise<LoadedKey[]> {
  const files = existsSync(keysDir) ? keystoreFiles(keysDir) : [];
  const keystores = files.map((file) => ({ file, keystore: parseKeystore(readText(file), file) }));
  const seen = new Map<string, string>();
  for (const { file, keystore } of keystores) {
    const pubkey = keystorePubkey(keystore);
    const other = seen.get(pubkey);
    if (other !== undefined) {
      throw new KeysError(KeysErrorCode.KEY_EXISTS, `${file} and ${other} hold the same key ${pubkey}`, {
        pubkey,
      });
    }
    seen.set(pubkey, file);
  }
  const out: LoadedKey[] = new Array(keystores.length);
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keystores.length) {
      const i = next++;
      const { file, keystore } = keystores[i];
      const secretKey = await decryptKeystore(keystore, password, file);
      out[i] = {
        secretKey,
        pubkey: secretKey.toPublicKey().toBytes(),
        pubkeyHex: keystorePubkey(keystore),
        path: keystore.path,
        file,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keystores.length) }, worker));
  return out;
}

/**
 * `loadValidatorKeys` with the password read from a file (`--password-file`: trailing line
 * breaks dropped). A missing or empty file is `SECRET_FILE`; the password never reaches an error.
 */
export async function loadValidatorKeysWithPasswordFile(
  keysDir: string,
  passwordFile: string,
  opts: LoadOptions = {},
): Promise<LoadedKey[]> {
  return loadValidatorKeys(keysDir, readSecretFile(passwordFile), opts);
}

/** Absolute paths of the `keystore*.json` files in a directory, sorted by name. */
export function keystoreFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => KEYSTORE_FILE.test(name))
    .sort()
    .map((name) => resolve(dir, name))
    .filter((file) => statSync(file).isFile());
}

function expandSources(sources: string[]): string[] {
  const files: string[] = [];
  for (const source of sources) {
    let isDir: boolean;
    try {
      isDir = statSync(source).isDirectory();
    } catch {
      throw new KeysError(KeysErrorCode.INVALID_KEYSTORE, `${source} does not exist`, { source });
    }
    files.push(...(isDir ? keystoreFiles(source) : [resolve(source)]));
  }
  return files;
}

function ensureKeysDir(keysDir: string): void {
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
}

/** Writes a keystore atomically with mode 0600; never replaces an existing file. */
function writeKeystore(
  keysDir: string,
  keystore: IKeystore,
  now: number,
  name = keystoreFileName(keystore, now),
): string {
  let file = resolve(keysDir, name);
  for (let n = 1; existsSync(file); n++) file = resolve(keysDir, name.replace(/\.json$/, `-${n}.json`));
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(keystore, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new KeysError(KeysErrorCode.INVALID_KEYSTORE, `cannot read ${file} (${code})`, { file });
  }
}

/** Default key directory of a datadir. */
export function defaultKeysDir(datadir: string): string {
  return join(datadir, "keys");
}
