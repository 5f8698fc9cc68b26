/**
 * Polling filters (eth_newFilter, eth_newBlockFilter, eth_newPendingTransactionFilter,
 * eth_getFilterChanges, eth_getFilterLogs, eth_uninstallFilter) and WebSocket subscriptions
 * (eth_subscribe: newHeads, logs, newPendingTransactions, syncing).
 *
 * Both follow the chain's 'head' events (reorgs deliver removed logs with `removed: true`)
 * and the pool's 'pending' events. Filters that are not polled expire.
 */
import { randomBytes } from "node:crypto";
import { bytesToHex } from "@ethereumjs/util";
import type { HeadEvent } from "../../../execution/chain/blockchain.ts";
import type { PoolTx } from "../../../execution/txpool/pool.ts";
import type { RpcMetrics } from "../../../metrics/index.ts";
import { type RpcContext, resolveHeader } from "../context.ts";
import { headerNotFound, RpcError, RpcErrorCode } from "../errors.ts";
import { formatHeader, formatTx, type Json } from "../format.ts";
import { blockLogs, criteriaOf, type LogCriteria, queryLogs } from "../logs.ts";
import { any, type BlockRef, bool, type LogFilter, logFilter, optional, string } from "../params.ts";
import {
  type CallInfo,
  connectionMethod,
  type MethodTable,
  method,
  type RpcConnection,
} from "../registry.ts";

/** Buffered changes kept per filter between polls. */
const MAX_BUFFERED = 10_000;

interface LogFilterState {
  kind: "logs";
  filter: LogFilter;
  criteria: LogCriteria;
  buffer: Json[];
  lastPoll: number;
}
interface BlockFilterState {
  kind: "blocks";
  buffer: Json[];
  lastPoll: number;
}
interface PendingFilterState {
  kind: "pending";
  buffer: Json[];
  lastPoll: number;
}
type FilterState = LogFilterState | BlockFilterState | PendingFilterState;

interface Subscription {
  kind: "newHeads" | "logs" | "newPendingTransactions" | "syncing";
  connection: RpcConnection;
  criteria?: LogCriteria;
  fullTransactions?: boolean;
}

const newId = () => bytesToHex(randomBytes(16));

export class FilterManager {
  private readonly ctx: RpcContext;
  private readonly metrics: RpcMetrics | undefined;
  private readonly filters = new Map<string, FilterState>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(ctx: RpcContext, metrics?: RpcMetrics) {
    this.ctx = ctx;
    this.metrics = metrics;
    this.unsubscribe.push(ctx.chain.on("head", (event) => this.onHead(event)));
    this.unsubscribe.push(ctx.pool.on("pending", (ptx) => this.onPending(ptx)));
    this.timer = setInterval(() => this.expire(), Math.min(ctx.opts.filterTimeoutMs, 60_000));
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    for (const off of this.unsubscribe) off();
    this.filters.clear();
    this.subscriptions.clear();
  }

  private push(state: FilterState, items: Json[]): void {
    state.buffer.push(...items);
    if (state.buffer.length > MAX_BUFFERED) state.buffer.splice(0, state.buffer.length - MAX_BUFFERED);
  }

  private onHead(event: HeadEvent): void {
    const { chain } = this.ctx;
    const hasLogConsumers =
      [...this.filters.values()].some((f) => f.kind === "logs") ||
      [...this.subscriptions.values()].some((s) => s.kind === "logs");
    for (const state of this.filters.values()) {
      if (state.kind === "blocks")
        this.push(
          state,
          event.change.added.map((b) => bytesToHex(b.hash())),
        );
    }
    for (const [id, sub] of this.subscriptions) {
      if (sub.kind === "newHeads") {
        for (const block of event.change.added) notify(sub.connection, id, formatHeader(block.header));
      }
    }
    if (!hasLogConsumers) return;
    for (const state of this.filters.values()) {
      if (state.kind !== "logs") continue;
      const items: Json[] = [];
      for (const block of event.change.removed) items.push(...blockLogs(chain, block, state.criteria, true));
      for (const block of event.change.added) {
        if (!inRange(state.filter, block.header.number)) continue;
        items.push(...blockLogs(chain, block, state.criteria));
      }
      this.push(state, items);
    }
    for (const [id, sub] of this.subscriptions) {
      if (sub.kind !== "logs" || sub.criteria === undefined) continue;
      for (const block of event.change.removed)
        for (const log of blockLogs(chain, block, sub.criteria, true)) notify(sub.connection, id, log);
      for (const block of event.change.added)
        for (const log of blockLogs(chain, block, sub.criteria)) notify(sub.connection, id, log);
    }
  }

  private onPending(ptx: PoolTx): void {
    for (const state of this.filters.values()) if (state.kind === "pending") this.push(state, [ptx.hashHex]);
    for (const [id, sub] of this.subscriptions) {
      if (sub.kind !== "newPendingTransactions") continue;
      notify(
        sub.connection,
        id,
        sub.fullTransactions ? formatTx(ptx.tx, { sender: ptx.sender }) : ptx.hashHex,
      );
    }
  }

  private expire(): void {
    const cutoff = Date.now() - this.ctx.opts.filterTimeoutMs;
    for (const [id, state] of this.filters) if (state.lastPoll < cutoff) this.filters.delete(id);
  }

  newLogFilter(filter: LogFilter): string {
    const id = newId();
    this.filters.set(id, {
      kind: "logs",
      filter,
      criteria: criteriaOf(filter),
      buffer: [],
      lastPoll: Date.now(),
    });
    return id;
  }

  newSimpleFilter(kind: "blocks" | "pending"): string {
    const id = newId();
    this.filters.set(id, { kind, buffer: [], lastPoll: Date.now() });
    return id;
  }

  changes(id: string): Json[] {
    const state = this.filters.get(id.toLowerCase());
    if (state === undefined) throw new RpcError(RpcErrorCode.SERVER, "filter not found");
    state.lastPoll = Date.now();
    const out = state.buffer;
    state.buffer = [];
    return out;
  }

  async logs(id: string): Promise<Json[]> {
    const state = this.filters.get(id.toLowerCase());
    if (state === undefined || state.kind !== "logs")
      throw new RpcError(RpcErrorCode.SERVER, "filter not found");
    state.lastPoll = Date.now();
    const { chain } = this.ctx;
    const from = resolveHeader(this.ctx, state.filter.fromBlock ?? { kind: "tag", tag: "latest" });
    const to = resolveHeader(this.ctx, state.filter.toBlock ?? { kind: "tag", tag: "latest" });
    if (state.filter.blockHash !== undefined) {
      const block = chain.store.getBlock(state.filter.blockHash);
      return block === undefined ? [] : blockLogs(chain, block, state.criteria);
    }
    if (from === undefined || to === undefined) throw headerNotFound();
    return queryLogs(chain, state.criteria, from.number, to.number, {
      maxRange: this.ctx.opts.logsMaxRange,
      maxResults: this.ctx.opts.logsMaxResults,
    });
  }

  uninstall(id: string): boolean {
    return this.filters.delete(id.toLowerCase());
  }

  subscribe(info: CallInfo, kind: string, params: unknown): string {
    const connection = info.connection;
    if (connection === undefined)
      throw new RpcError(RpcErrorCode.METHOD_NOT_FOUND, "notifications not supported");
    const id = newId();
    let sub: Subscription;
    switch (kind) {
      case "newHeads":
        sub = { kind, connection };
        break;
      case "logs": {
        const filter =
          params === undefined
            ? { addresses: [], topics: [] }
            : (logFilter("filter").decode(params) as LogFilter);
        sub = { kind, connection, criteria: criteriaOf(filter) };
        break;
      }
      case "newPendingTransactions":
        sub = { kind, connection, fullTransactions: params === true };
        break;
      case "syncing":
        sub = { kind, connection };
        setImmediate(() => notify(connection, id, { syncing: this.ctx.syncStatus() !== false }));
        break;
      default:
        throw new RpcError(
          RpcErrorCode.INVALID_PARAMS,
          `invalid argument 0: unsupported subscription type ${kind}`,
        );
    }
    this.subscriptions.set(id, sub);
    this.metrics?.subscriptions.set(this.subscriptions.size);
    connection.onClose(() => {
      this.subscriptions.delete(id);
      this.metrics?.subscriptions.set(this.subscriptions.size);
    });
    return id;
  }

  unsubscribeId(info: CallInfo, id: string): boolean {
    const sub = this.subscriptions.get(id.toLowerCase());
    if (sub === undefined || sub.connection !== info.connection) return false;
    this.subscriptions.delete(id.toLowerCase());
    this.metrics?.subscriptions.set(this.subscriptions.size);
    return true;
  }
}

function inRange(filter: LogFilter, number: bigint): boolean {
  const bound = (ref: BlockRef | undefined) => (ref?.kind === "number" ? ref.number : undefined);
  const from = bound(filter.fromBlock);
  const to = bound(filter.toBlock);
  if (from !== undefined && number < from) return false;
  if (to !== undefined && number > to) return false;
  return true;
}

function notify(connection: RpcConnection, subscription: string, result: Json): void {
  connection.send({ jsonrpc: "2.0", method: "eth_subscription", params: { subscription, result } });
}

export function filterMethods(filters: FilterManager): MethodTable {
  return {
    eth_newFilter: method([logFilter("filter")], (filter) => filters.newLogFilter(filter)),
    eth_newBlockFilter: method([], () => filters.newSimpleFilter("blocks")),
    eth_newPendingTransactionFilter: method([optional(bool("fullTransactions"))], () =>
      filters.newSimpleFilter("pending"),
    ),
    eth_getFilterChanges: method([string("id")], (id) => filters.changes(id)),
    eth_getFilterLogs: method([string("id")], (id) => filters.logs(id)),
    eth_uninstallFilter: method([string("id")], (id) => filters.uninstall(id)),
    eth_subscribe: connectionMethod([string("type"), optional(any("params"))], (info, kind, params) =>
      filters.subscribe(info, kind, params),
    ),
    eth_unsubscribe: connectionMethod([string("id")], (info, id) => filters.unsubscribeId(info, id)),
  };
}
