/**
 * Ethereum JSON-RPC over HTTP and WebSocket.
 *
 *   HTTP POST / ──┐                         ┌─ eth_* (methods/eth.ts) ─► chain, pool, executor
 *                 ├─► RpcDispatcher ─► table ├─ filters & subscriptions (methods/filters.ts)
 *   WebSocket  ───┘   (params, errors,       ├─ net_*, web3_*, txpool_*, debug raw getters
 *                      metrics, timeout)     └─ debug tracing (methods/debug-trace.ts)
 */
import type { RpcMetrics } from "../../metrics/index.ts";
import type { Logger } from "../../utils/logger.ts";
import type { RpcContext } from "./context.ts";
import { debugTraceMethods } from "./methods/debug-trace.ts";
import { ethMethods } from "./methods/eth.ts";
import { FilterManager, filterMethods } from "./methods/filters.ts";
import { debugRawMethods, netWeb3Methods, txpoolMethods } from "./methods/misc.ts";
import { proofMethods } from "./methods/proof.ts";
import { simulateMethods } from "./methods/simulate.ts";
import { type MethodTable, RpcDispatcher } from "./registry.ts";
import { RpcServer, type RpcServerOptions } from "./server.ts";

export { DEFAULT_RPC_OPTIONS, type DevSigner, type RpcContext, type RpcOptions } from "./context.ts";
export { RpcError, RpcErrorCode } from "./errors.ts";
export type { RpcServerOptions } from "./server.ts";

/** Extra method tables contributed by other layers (debug tracing, opengpu_*), by namespace. */
export type MethodProvider = (ctx: RpcContext) => MethodTable;

export function buildMethodTable(
  ctx: RpcContext,
  filters: FilterManager,
  providers: Record<string, MethodProvider> = {},
): MethodTable {
  const tables: Record<string, MethodTable> = {
    eth: { ...ethMethods(ctx), ...filterMethods(filters), ...proofMethods(ctx), ...simulateMethods(ctx) },
    net: netWeb3Methods(ctx),
    txpool: txpoolMethods(ctx),
    debug: { ...debugRawMethods(ctx), ...debugTraceMethods(ctx) },
  };
  for (const [namespace, provider] of Object.entries(providers)) {
    tables[namespace] = { ...(tables[namespace] ?? {}), ...provider(ctx) };
  }
  const out: MethodTable = {};
  for (const [namespace, table] of Object.entries(tables)) {
    for (const [name, def] of Object.entries(table)) {
      const ns = name.split("_")[0];
      // net_ and web3_ share a provider; each method is enabled by its own namespace.
      if (ctx.opts.namespaces.has(ns) || (namespace === "net" && ctx.opts.namespaces.has(ns)))
        out[name] = def;
    }
  }
  return out;
}

export class JsonRpc {
  readonly filters: FilterManager;
  readonly dispatcher: RpcDispatcher;
  readonly server: RpcServer;

  private constructor(filters: FilterManager, dispatcher: RpcDispatcher, server: RpcServer) {
    this.filters = filters;
    this.dispatcher = dispatcher;
    this.server = server;
  }

  static async start(
    serverOpts: RpcServerOptions & { batchLimit: number; callTimeoutMs: number },
    ctx: RpcContext,
    modules: { logger: Logger; metrics?: RpcMetrics; providers?: Record<string, MethodProvider> },
  ): Promise<JsonRpc> {
    const filters = new FilterManager(ctx, modules.metrics);
    const methods = buildMethodTable(ctx, filters, modules.providers);
    const dispatcher = new RpcDispatcher(
      methods,
      { batchLimit: serverOpts.batchLimit, callTimeoutMs: serverOpts.callTimeoutMs },
      { logger: modules.logger, metrics: modules.metrics },
    );
    const server = new RpcServer(serverOpts, {
      dispatcher,
      logger: modules.logger,
      metrics: modules.metrics,
    });
    await server.start();
    return new JsonRpc(filters, dispatcher, server);
  }

  async stop(): Promise<void> {
    await this.server.stop();
    this.filters.close();
  }
}
