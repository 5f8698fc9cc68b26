/**
 * Prometheus metrics: one registry per node, one typed group per subsystem. Every subsystem
 * receives its group through its constructor; `/metrics` serves the registry.
 * Names follow Prometheus conventions (`opengpu_<subsystem>_<name>_<unit>`).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

function chainMetrics(registry: Registry) {
  return {
    headNumber: new Gauge({
      name: "opengpu_chain_head_number",
      help: "Number of the canonical head block",
      registers: [registry],
    }),
    safeNumber: new Gauge({
      name: "opengpu_chain_safe_number",
      help: "Number of the safe block",
      registers: [registry],
    }),
    finalizedNumber: new Gauge({
      name: "opengpu_chain_finalized_number",
      help: "Number of the finalized block",
      registers: [registry],
    }),
    blocksImported: new Counter({
      name: "opengpu_chain_blocks_imported_total",
      help: "Blocks imported",
      registers: [registry],
    }),
    blocksInvalid: new Counter({
      name: "opengpu_chain_blocks_invalid_total",
      help: "Blocks rejected as invalid",
      labelNames: ["reason"],
      registers: [registry],
    }),
    reorgs: new Counter({
      name: "opengpu_chain_reorgs_total",
      help: "Canonical chain reorganisations",
      registers: [registry],
    }),
    reorgDepth: new Histogram({
      name: "opengpu_chain_reorg_depth_blocks",
      help: "Blocks removed from the canonical chain per reorganisation",
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [registry],
    }),
    importSeconds: new Histogram({
      name: "opengpu_chain_block_import_seconds",
      help: "Time to validate, execute and store a block",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    buildSeconds: new Histogram({
      name: "opengpu_chain_block_build_seconds",
      help: "Time to build a block (payload)",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    txsIncluded: new Counter({
      name: "opengpu_chain_transactions_included_total",
      help: "Transactions in canonical blocks",
      registers: [registry],
    }),
    gasUsed: new Counter({
      name: "opengpu_chain_gas_used_total",
      help: "Gas used by canonical blocks",
      registers: [registry],
    }),
  };
}

function txpoolMetrics(registry: Registry) {
  return {
    pending: new Gauge({
      name: "opengpu_txpool_pending",
      help: "Executable transactions in the pool",
      registers: [registry],
    }),
    queued: new Gauge({
      name: "opengpu_txpool_queued",
      help: "Transactions waiting on a nonce gap",
      registers: [registry],
    }),
    added: new Counter({
      name: "opengpu_txpool_added_total",
      help: "Transactions accepted into the pool",
      registers: [registry],
    }),
    rejected: new Counter({
      name: "opengpu_txpool_rejected_total",
      help: "Transactions rejected at admission, by reason",
      labelNames: ["reason"],
      registers: [registry],
    }),
    evicted: new Counter({
      name: "opengpu_txpool_evicted_total",
      help: "Transactions evicted for capacity or replaced",
      registers: [registry],
    }),
  };
}

function rpcMetrics(registry: Registry) {
  return {
    requests: new Counter({
      name: "opengpu_rpc_requests_total",
      help: "JSON-RPC calls by method and outcome",
      labelNames: ["method", "outcome"],
      registers: [registry],
    }),
    seconds: new Histogram({
      name: "opengpu_rpc_request_seconds",
      help: "JSON-RPC call duration by method",
      labelNames: ["method"],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    wsConnections: new Gauge({
      name: "opengpu_rpc_ws_connections",
      help: "Open WebSocket connections",
      registers: [registry],
    }),
    subscriptions: new Gauge({
      name: "opengpu_rpc_subscriptions",
      help: "Active eth_subscribe subscriptions",
      registers: [registry],
    }),
  };
}

export type ChainMetrics = ReturnType<typeof chainMetrics>;
export type TxPoolMetrics = ReturnType<typeof txpoolMetrics>;
export type RpcMetrics = ReturnType<typeof rpcMetrics>;

export interface Metrics {
  registry: Registry;
  chain: ChainMetrics;
  txpool: TxPoolMetrics;
  rpc: RpcMetrics;
}

export function createMetrics(opts: { collectDefault?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.collectDefault ?? false) collectDefaultMetrics({ register: registry, prefix: "opengpu_process_" });
  return {
    registry,
    chain: chainMetrics(registry),
    txpool: txpoolMetrics(registry),
    rpc: rpcMetrics(registry),
  };
}
