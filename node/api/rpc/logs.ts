/**
 * Log queries (eth_getLogs, log filters, `logs` subscriptions).
 *
 * Candidate blocks come from the log index (address and topic -> block numbers) when the
 * filter names addresses or topics, otherwise from a scan of header blooms; matching logs are
 * then read from the candidates' receipts.
 */
import type { Block } from "@ethereumjs/block";
import type { Log } from "@ethereumjs/evm";
import { equalsBytes } from "@ethereumjs/util";
import type { Blockchain } from "../../execution/chain/blockchain.ts";
import { RpcError, RpcErrorCode } from "./errors.ts";
import { formatLog, type Json } from "./format.ts";
import type { LogFilter } from "./params.ts";

export interface LogCriteria {
  addresses: Uint8Array[];
  topics: (Uint8Array[] | null)[];
}

export function logMatches(log: Log, criteria: LogCriteria): boolean {
  const [address, topics] = log;
  if (criteria.addresses.length > 0 && !criteria.addresses.some((a) => equalsBytes(a, address))) return false;
  if (criteria.topics.length > topics.length) return false;
  for (let i = 0; i < criteria.topics.length; i++) {
    const alternatives = criteria.topics[i];
    if (alternatives === null) continue;
    if (!alternatives.some((t) => equalsBytes(t, topics[i]))) return false;
  }
  return true;
}

/** Matching logs of one block in RPC form (optionally flagged removed, for reorgs). */
export function blockLogs(chain: Blockchain, block: Block, criteria: LogCriteria, removed = false): Json[] {
  const receipts = chain.store.getReceipts(block.hash());
  if (receipts === undefined) return [];
  const out: Json[] = [];
  let logIndex = 0;
  receipts.forEach((receipt, txIndex) => {
    const txHash = block.transactions[txIndex].hash();
    for (const log of receipt.logs) {
      if (logMatches(log, criteria)) out.push(formatLog(log, { block, txIndex, txHash, logIndex, removed }));
      logIndex++;
    }
  });
  return out;
}

/** Candidate block numbers in [from, to] via the log index; undefined when the filter has no keys. */
async function indexedCandidates(
  chain: Blockchain,
  criteria: LogCriteria,
  from: bigint,
  to: bigint,
): Promise<bigint[] | undefined> {
  const sets: bigint[][] = [];
  const limit = Number(to - from + 1n);
  if (criteria.addresses.length > 0) {
    const union = new Set<bigint>();
    for (const address of criteria.addresses) {
      for (const n of await chain.db.logIndexBlocks("address", address, from, to, limit)) union.add(n);
    }
    sets.push([...union]);
  }
  for (const alternatives of criteria.topics) {
    if (alternatives === null) continue;
    const union = new Set<bigint>();
    for (const topic of alternatives) {
      for (const n of await chain.db.logIndexBlocks("topic", topic, from, to, limit)) union.add(n);
    }
    sets.push([...union]);
  }
  if (sets.length === 0) return undefined;
  // Intersect: a block must match every constrained dimension.
  let result = new Set(sets[0]);
  for (const s of sets.slice(1)) {
    const next = new Set<bigint>();
    for (const n of s) if (result.has(n)) next.add(n);
    result = next;
  }
  return [...result].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface LogQueryLimits {
  maxRange: bigint;
  maxResults: number;
}

/** Logs in the canonical range [from, to] matching `criteria`. */
export async function queryLogs(
  chain: Blockchain,
  criteria: LogCriteria,
  from: bigint,
  to: bigint,
  limits: LogQueryLimits,
): Promise<Json[]> {
  if (from > to) return [];
  if (to - from + 1n > limits.maxRange) {
    throw new RpcError(
      RpcErrorCode.LIMIT_EXCEEDED,
      `block range too large: ${to - from + 1n} blocks, limit ${limits.maxRange}`,
    );
  }
  const candidates = (await indexedCandidates(chain, criteria, from, to)) ?? range(from, to);
  const out: Json[] = [];
  for (const number of candidates) {
    const block = chain.store.getBlockByNumber(number);
    if (block === undefined) continue;
    if (
      candidates.length > 0 &&
      criteria.addresses.length === 0 &&
      criteria.topics.every((t) => t === null)
    ) {
      if (block.transactions.length === 0) continue;
    }
    const logs = blockLogs(chain, block, criteria);
    if (out.length + logs.length > limits.maxResults) {
      throw new RpcError(
        RpcErrorCode.LIMIT_EXCEEDED,
        `query returned more than ${limits.maxResults} results`,
      );
    }
    out.push(...logs);
  }
  return out;
}

function range(from: bigint, to: bigint): bigint[] {
  const out: bigint[] = [];
  for (let n = from; n <= to; n++) out.push(n);
  return out;
}

export function criteriaOf(filter: LogFilter): LogCriteria {
  return { addresses: filter.addresses, topics: filter.topics };
}
