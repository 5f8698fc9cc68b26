/**
 * Chain export and import in the format of `geth export` / `geth import`: canonical blocks as
 * concatenated RLP (`[header, transactions, uncles, withdrawals?]`, one after another, no
 * framing), gzip-compressed when the file name ends in `.gz`.
 *
 * This module owns the file format (streaming split of a byte stream into top-level RLP items,
 * gzip detection, export of stored records without decoding them) and the import loop: each
 * block goes through `Blockchain.insertBlock` (full header validation and execution; PoW seals of
 * pre-merge blocks are not verified) and `setHead`, known blocks are skipped, and the import
 * stops at the first block that fails, keeping everything imported before it. Progress is logged
 * every few seconds (blocks/s, txs/s, Mgas/s).
 *
 *   file ─► (gunzip) ─► readRlpItems ─► decodeBlock ─► insertBlock ─► setHead
 *   canonical index ─► header RLP + body RLP ─► block RLP ─► (gzip) ─► file
 */
import { closeSync, createReadStream, createWriteStream, openSync, readSync, rmSync } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { type Block, type BlockBytes, createBlockFromBytesArray } from "@ethereumjs/block";
import { RLP } from "@ethereumjs/rlp";
import { bytesToBigInt, bytesToHex, concatBytes, equalsBytes } from "@ethereumjs/util";
import { OpenGpuError } from "../../utils/errors.ts";
import type { Logger } from "../../utils/logger.ts";
import { keccak256 } from "../crypto.ts";
import { ChainError } from "../errors.ts";
import type { Blockchain } from "./blockchain.ts";
import type { ChainConfig } from "./config.ts";

/** Largest single block accepted from a file (EIP-7934 caps real blocks at 10 MiB). */
export const MAX_BLOCK_RLP_BYTES = 64 * 1024 * 1024;
/** Default interval between progress lines. */
export const PROGRESS_INTERVAL_MS = 5_000;

const GZIP_MAGIC = [0x1f, 0x8b] as const;

export const ChainIoErrorCode = {
  /** The requested export range is empty or beyond the head. */
  RANGE: "CHAIN_IO_RANGE",
  /** A canonical block's records are missing from the datadir. */
  MISSING_BLOCK: "CHAIN_IO_MISSING_BLOCK",
} as const;
export type ChainIoErrorCode = (typeof ChainIoErrorCode)[keyof typeof ChainIoErrorCode];

export class ChainIoError extends OpenGpuError<ChainIoErrorCode> {
  override name = "ChainIoError";
}

/** Why an import stopped before the end of its files. */
export const ImportFailureCode = {
  /** A block failed validation or execution, or its parent is unknown. */
  INVALID_BLOCK: "IMPORT_INVALID_BLOCK",
  /** Bytes in the file that do not decode to a block. */
  MALFORMED: "IMPORT_MALFORMED",
  /** The file ends in the middle of a block (or the gzip stream ends early). */
  TRUNCATED: "IMPORT_TRUNCATED",
  /** The file's block 0 is not this chain's genesis. */
  GENESIS_MISMATCH: "IMPORT_GENESIS_MISMATCH",
  /** The file could not be read (missing, no permission, corrupt compression). */
  READ: "IMPORT_READ_FAILED",
  /** The caller asked the import to stop (Ctrl-C). */
  INTERRUPTED: "IMPORT_INTERRUPTED",
} as const;
export type ImportFailureCode = (typeof ImportFailureCode)[keyof typeof ImportFailureCode];

export interface ImportFailure {
  code: ImportFailureCode;
  /** One line naming the file, position, block and reason. */
  message: string;
  file: string;
  /** Byte offset in the (decompressed) file of the item that failed, or of the truncated tail. */
  offset: number;
  /** Number and hash of the offending block, when it could be decoded that far. */
  number?: bigint;
  hash?: string;
  /** The underlying reason (validation message, decoder error). */
  reason: string;
}

export interface ImportStats {
  /** Blocks validated, executed and stored. */
  imported: number;
  /** Blocks already known (genesis, or imported before). */
  skipped: number;
  txs: number;
  gasUsed: bigint;
  elapsedMs: number;
}

export interface ImportResult extends ImportStats {
  /** The canonical head after the import. */
  head: { number: bigint; hash: string };
  /** Set when the import stopped early; everything before the failing block was kept. */
  failure?: ImportFailure;
}

export interface ImportOptions {
  logger: Logger;
  progressIntervalMs?: number;
  /** Stops the import between two blocks. */
  signal?: AbortSignal;
}

export interface ExportOptions {
  /** First block to write (default 0, the genesis, as `geth export` does). */
  from?: bigint;
  /** Last block to write (default: the head). */
  to?: bigint;
  /** Compress the output (default: when the path ends in `.gz`). */
  gzip?: boolean;
  logger?: Logger;
  progressIntervalMs?: number;
}

export interface ExportResult {
  first: bigint;
  last: bigint;
  blocks: number;
  /** Uncompressed bytes written. */
  bytes: number;
  elapsedMs: number;
}

// --- RLP framing ---------------------------------------------------------------------------

/** An error while splitting a stream into RLP items. */
class RlpStreamError extends Error {
  readonly code: ImportFailureCode;
  readonly offset: number;
  constructor(code: ImportFailureCode, message: string, offset: number, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.offset = offset;
  }
}

export interface RlpItem {
  /** The whole item (prefix and payload). Valid until the next item is requested. */
  bytes: Uint8Array;
  /** Its byte offset in the stream. */
  offset: number;
}

/** Length of the RLP prefix that starts with `first` (1 plus any length-of-length bytes). */
function prefixLength(first: number): number {
  if (first >= 0xf8) return 1 + first - 0xf7;
  if (first >= 0xc0) return 1;
  if (first >= 0xb8) return 1 + first - 0xb7;
  return 1;
}

/** Total size (prefix + payload) of the RLP item whose full prefix starts at `bytes[pos]`. */
function itemLength(bytes: Uint8Array, pos: number): number {
  const first = bytes[pos];
  if (first < 0x80) return 1;
  if (first <= 0xb7) return 1 + first - 0x80;
  if (first >= 0xc0 && first <= 0xf7) return 1 + first - 0xc0;
  const lenOfLen = prefixLength(first) - 1;
  let payload = 0;
  for (let i = 1; i <= lenOfLen; i++) payload = payload * 256 + bytes[pos + i];
  return 1 + lenOfLen + payload;
}

/** Encodes the prefix of an RLP list whose payload is `length` bytes. */
function listPrefix(length: number): Uint8Array {
  if (length < 56) return Uint8Array.of(0xc0 + length);
  const digits: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) digits.unshift(n % 256);
  return Uint8Array.of(0xf7 + digits.length, ...digits);
}

/**
 * Splits a byte stream into its top-level RLP items without holding more than one item (plus
 * one read chunk) in memory. Throws `RlpStreamError` (TRUNCATED) if the stream ends inside an
 * item, or (MALFORMED) if an item claims more than `maxItemBytes`.
 */
export async function* readRlpItems(
  source: AsyncIterable<Uint8Array>,
  maxItemBytes = MAX_BLOCK_RLP_BYTES,
): AsyncGenerator<RlpItem> {
  const chunks = source[Symbol.asyncIterator]();
  let buf: Uint8Array = new Uint8Array(0);
  let pos = 0;
  let offset = 0;
  let ended = false;
  // Makes at least `need` unread bytes contiguous in `buf`; false if the stream ends first.
  const fill = async (need: number): Promise<boolean> => {
    let available = buf.length - pos;
    if (available >= need) return true;
    const parts: Uint8Array[] = [buf.subarray(pos)];
    while (available < need && !ended) {
      const next = await chunks.next();
      if (next.done === true) {
        ended = true;
        break;
      }
      parts.push(next.value);
      available += next.value.length;
    }
    buf = parts.length === 1 ? parts[0] : concatBytes(...parts);
    pos = 0;
    return available >= need;
  };
  const truncated = (): RlpStreamError =>
    new RlpStreamError(
      ImportFailureCode.TRUNCATED,
      `file ends inside a block: ${buf.length - pos} trailing bytes do not form a complete RLP item`,
      offset,
    );
  while (await fill(1)) {
    if (!(await fill(prefixLength(buf[pos])))) throw truncated();
    const length = itemLength(buf, pos);
    if (length > maxItemBytes) {
      throw new RlpStreamError(
        ImportFailureCode.MALFORMED,
        `RLP item of ${length} bytes exceeds the ${maxItemBytes}-byte limit`,
        offset,
      );
    }
    if (!(await fill(length))) throw truncated();
    yield { bytes: buf.subarray(pos, pos + length), offset };
    pos += length;
    offset += length;
  }
}

/** True when the file starts with the gzip magic bytes. */
function isGzipFile(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const head = new Uint8Array(2);
    const read = readSync(fd, head, 0, 2, 0);
    return read === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  } finally {
    closeSync(fd);
  }
}

/** A stream of the file's (decompressed) bytes, and a function that releases it. */
function openBlockFile(path: string): { stream: Readable; close: () => void } {
  const gzip = isGzipFile(path);
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  if (!gzip) return { stream: file, close: () => file.destroy() };
  const gunzip = createGunzip();
  file.on("error", (err) => gunzip.destroy(err));
  file.pipe(gunzip);
  return {
    stream: gunzip,
    close: () => {
      gunzip.destroy();
      file.destroy();
    },
  };
}

// --- blocks --------------------------------------------------------------------------------

/** Decodes one block of an RLP file with the fork rules its number and timestamp select. */
export function decodeBlock(bytes: Uint8Array, config: ChainConfig): Block {
  const values = RLP.decode(bytes);
  if (!Array.isArray(values) || values.length < 3 || !Array.isArray(values[0])) {
    throw new Error("not an RLP block ([header, transactions, uncles, withdrawals?])");
  }
  return createBlockFromBytesArray(values as unknown as BlockBytes, {
    common: config.commonFor(config.hardforkAt(0n, 0n)),
    setHardfork: true,
  });
}

/** Number and hash of an undecodable block, when at least its header is a list of fields. */
function peekHeader(bytes: Uint8Array): { number: bigint; hash: string } | undefined {
  try {
    const values = RLP.decode(bytes);
    if (!Array.isArray(values) || !Array.isArray(values[0])) return undefined;
    const header = values[0];
    const number = header[8];
    if (number === undefined || Array.isArray(number)) return undefined;
    return { number: bytesToBigInt(number), hash: bytesToHex(keccak256(RLP.encode(header))) };
  } catch {
    return undefined;
  }
}

/** The canonical block at `num` as it appears in an export file, from its stored records. */
function storedBlockRlp(chain: Blockchain, num: bigint): Uint8Array {
  const hash = chain.db.getCanonicalHash(num);
  const header = hash === undefined ? undefined : chain.db.getHeaderRlp(num, hash);
  const body = hash === undefined ? undefined : chain.db.getBodyRlp(num, hash);
  if (header === undefined || body === undefined) {
    throw new ChainIoError(
      ChainIoErrorCode.MISSING_BLOCK,
      `canonical block ${num} is missing from the datadir`,
      {
        number: num,
      },
    );
  }
  // Stored: header = RLP(headerFields), body = RLP([txs, uncles, withdrawals?]).
  // Block:  RLP([headerFields, txs, uncles, withdrawals?]) = list prefix ‖ header ‖ body payload.
  const bodyPayload = body.subarray(prefixLength(body[0]));
  return concatBytes(listPrefix(header.length + bodyPayload.length), header, bodyPayload);
}

// --- progress ------------------------------------------------------------------------------

const round = (n: number, digits: number) => Number(n.toFixed(digits));

/** Rate-limited progress lines: blocks/s, txs/s and Mgas/s over the last interval. */
class ImportProgress {
  readonly stats: ImportStats = { imported: 0, skipped: 0, txs: 0, gasUsed: 0n, elapsedMs: 0 };
  private readonly started = performance.now();
  private last = { at: this.started, imported: 0, txs: 0, gasUsed: 0n };
  private readonly logger: Logger;
  private readonly intervalMs: number;

  constructor(logger: Logger, intervalMs: number) {
    this.logger = logger;
    this.intervalMs = intervalMs;
  }

  skipped(): void {
    this.stats.skipped++;
  }

  imported(block: Block): void {
    this.stats.imported++;
    this.stats.txs += block.transactions.length;
    this.stats.gasUsed += block.header.gasUsed;
    const now = performance.now();
    if (now - this.last.at < this.intervalMs) return;
    const seconds = Math.max((now - this.last.at) / 1000, 1e-3);
    this.logger.info(
      {
        number: block.header.number,
        hash: bytesToHex(block.hash()),
        blocks: this.stats.imported - this.last.imported,
        txs: this.stats.txs - this.last.txs,
        "blocks/s": round((this.stats.imported - this.last.imported) / seconds, 1),
        "txs/s": round((this.stats.txs - this.last.txs) / seconds, 1),
        "Mgas/s": round(Number(this.stats.gasUsed - this.last.gasUsed) / 1e6 / seconds, 3),
      },
      "Imported blocks",
    );
    this.last = { at: now, imported: this.stats.imported, txs: this.stats.txs, gasUsed: this.stats.gasUsed };
  }

  finish(): ImportStats {
    this.stats.elapsedMs = performance.now() - this.started;
    return { ...this.stats };
  }
}

// --- import --------------------------------------------------------------------------------

type Step =
  | { kind: "imported" | "skipped" }
  | { kind: "failed"; failure: Omit<ImportFailure, "file" | "offset"> };

async function importOne(chain: Blockchain, block: Block): Promise<Step> {
  const hash = block.hash();
  const where = { number: block.header.number, hash: bytesToHex(hash) };
  if (block.header.number === 0n) {
    if (equalsBytes(hash, chain.genesis.hash())) return { kind: "skipped" };
    const reason = `the file's genesis is ${where.hash}, this chain's is ${bytesToHex(chain.genesis.hash())}`;
    return {
      kind: "failed",
      failure: {
        code: ImportFailureCode.GENESIS_MISMATCH,
        ...where,
        reason,
        message: `genesis mismatch: ${reason}`,
      },
    };
  }
  let inserted: boolean;
  try {
    inserted = await chain.insertBlock(block);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const code = err instanceof ChainError ? ` (${err.code})` : "";
    return {
      kind: "failed",
      failure: {
        code: ImportFailureCode.INVALID_BLOCK,
        ...where,
        reason,
        message: `block ${where.number} ${where.hash} rejected${code}: ${reason}`,
      },
    };
  }
  // New blocks become the head; a known block only moves the head if it is not already
  // canonical (re-importing a prefix of the chain never rewinds it).
  if (inserted || !chain.store.isCanonical(hash)) await chain.setHead(hash);
  return { kind: inserted ? "imported" : "skipped" };
}

/**
 * Imports the blocks of `files` in order (plain or gzipped concatenated RLP). Stops at the first
 * failure and reports it in the result; blocks imported before it stay imported and canonical.
 */
export async function importChain(
  chain: Blockchain,
  files: readonly string[],
  opts: ImportOptions,
): Promise<ImportResult> {
  const { logger } = opts;
  const progress = new ImportProgress(logger, opts.progressIntervalMs ?? PROGRESS_INTERVAL_MS);
  const done = (failure?: ImportFailure): ImportResult => {
    const stats = progress.finish();
    const head = { number: chain.head.header.number, hash: bytesToHex(chain.head.hash()) };
    const seconds = Math.max(stats.elapsedMs / 1000, 1e-3);
    logger[failure === undefined ? "info" : "warn"](
      {
        ...head,
        imported: stats.imported,
        skipped: stats.skipped,
        txs: stats.txs,
        mgas: round(Number(stats.gasUsed) / 1e6, 3),
        elapsed: `${round(seconds, 3)}s`,
        "blocks/s": round(stats.imported / seconds, 1),
        "txs/s": round(stats.txs / seconds, 1),
        "Mgas/s": round(Number(stats.gasUsed) / 1e6 / seconds, 3),
        ...(failure !== undefined ? { error: failure.message } : {}),
      },
      failure === undefined ? "Import done" : "Import stopped",
    );
    return { ...stats, head, ...(failure !== undefined ? { failure } : {}) };
  };

  for (const file of files) {
    logger.info({ file }, "Importing blockchain");
    let source: ReturnType<typeof openBlockFile>;
    try {
      source = openBlockFile(file);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return done({ code: ImportFailureCode.READ, file, offset: 0, reason, message: `${file}: ${reason}` });
    }
    try {
      for await (const item of readRlpItems(source.stream)) {
        const at = `${file} (byte ${item.offset})`;
        if (opts.signal?.aborted === true) {
          const reason = "interrupted";
          return done({
            code: ImportFailureCode.INTERRUPTED,
            file,
            offset: item.offset,
            reason,
            message: `${at}: ${reason}`,
          });
        }
        let block: Block;
        try {
          block = decodeBlock(item.bytes, chain.config);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          const peek = peekHeader(item.bytes);
          const which = peek === undefined ? "item" : `block ${peek.number} ${peek.hash}`;
          return done({
            code: ImportFailureCode.MALFORMED,
            file,
            offset: item.offset,
            ...peek,
            reason,
            message: `${at}: ${which} does not decode: ${reason}`,
          });
        }
        const step = await importOne(chain, block);
        if (step.kind === "failed") {
          return done({
            ...step.failure,
            file,
            offset: item.offset,
            message: `${at}: ${step.failure.message}`,
          });
        }
        if (step.kind === "imported") progress.imported(block);
        else progress.skipped();
      }
    } catch (err) {
      if (err instanceof RlpStreamError) {
        return done({
          code: err.code,
          file,
          offset: err.offset,
          reason: err.message,
          message: `${file} (byte ${err.offset}): ${err.message}`,
        });
      }
      const code = (err as { code?: unknown }).code;
      if (typeof code === "string" && code.startsWith("Z_")) {
        // zlib: a gzip stream that ends early or is corrupt.
        const reason = `gzip: ${(err as Error).message}`;
        return done({
          code: code === "Z_BUF_ERROR" ? ImportFailureCode.TRUNCATED : ImportFailureCode.READ,
          file,
          offset: 0,
          reason,
          message: `${file}: ${reason}`,
        });
      }
      if (typeof code === "string" && code.startsWith("E")) {
        const reason = (err as Error).message;
        return done({ code: ImportFailureCode.READ, file, offset: 0, reason, message: `${file}: ${reason}` });
      }
      throw err;
    } finally {
      source.close();
    }
  }
  return done();
}

// --- export --------------------------------------------------------------------------------

/**
 * Writes canonical blocks `from`..`to` (default: genesis to head) to `path` as concatenated RLP,
 * gzipped when the path ends in `.gz`. A partly written file is removed on failure.
 */
export async function exportChain(
  chain: Blockchain,
  path: string,
  opts: ExportOptions = {},
): Promise<ExportResult> {
  const head = chain.head.header.number;
  const first = opts.from ?? 0n;
  const last = opts.to ?? head;
  if (first > last)
    throw new ChainIoError(ChainIoErrorCode.RANGE, `first block ${first} is above last block ${last}`);
  if (last > head)
    throw new ChainIoError(ChainIoErrorCode.RANGE, `last block ${last} is above the head ${head}`);
  const gzip = opts.gzip ?? path.endsWith(".gz");
  const logger = opts.logger;
  const intervalMs = opts.progressIntervalMs ?? PROGRESS_INTERVAL_MS;
  const started = performance.now();
  let bytes = 0;
  let blocks = 0;
  logger?.info({ file: path, first, last, gzip }, "Exporting blockchain");

  // Blocks are grouped into ~1 MiB writes.
  async function* chunks(): AsyncGenerator<Uint8Array> {
    let parts: Uint8Array[] = [];
    let size = 0;
    let lastLog = performance.now();
    for (let num = first; num <= last; num++) {
      const rlp = storedBlockRlp(chain, num);
      parts.push(rlp);
      size += rlp.length;
      bytes += rlp.length;
      blocks++;
      if (size >= 1 << 20) {
        yield concatBytes(...parts);
        parts = [];
        size = 0;
      }
      const now = performance.now();
      if (logger !== undefined && now - lastLog >= intervalMs) {
        logger.info({ number: num, blocks, bytes }, "Exporting blocks");
        lastLog = now;
      }
    }
    if (parts.length > 0) yield concatBytes(...parts);
  }

  try {
    if (gzip) await pipeline(chunks, createGzip(), createWriteStream(path));
    else await pipeline(chunks, createWriteStream(path));
  } catch (err) {
    rmSync(path, { force: true });
    throw err;
  }
  const elapsedMs = performance.now() - started;
  logger?.info(
    { file: path, first, last, blocks, bytes, elapsed: `${round(elapsedMs / 1000, 3)}s` },
    "Exported blockchain",
  );
  return { first, last, blocks, bytes, elapsedMs };
}
