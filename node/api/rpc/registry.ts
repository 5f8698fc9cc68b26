/**
 * Method table and dispatcher: decodes params per method, runs the handler, maps errors to
 * JSON-RPC error objects, records metrics. Transport-independent (HTTP and WebSocket share it).
 */
import type { RpcMetrics } from "../../metrics/index.ts";
import type { Logger } from "../../utils/logger.ts";
import { RpcError, RpcErrorCode, toRpcError } from "./errors.ts";
import { decodeParams, type Param, type ParamValues } from "./params.ts";

/** Per-call information a handler may use (the WebSocket connection for subscriptions). */
export interface CallInfo {
  connection?: RpcConnection;
}

export interface RpcConnection {
  readonly id: string;
  send(message: unknown): void;
  onClose(listener: () => void): void;
}

export interface RpcMethod {
  readonly params: readonly Param<unknown>[];
  readonly handler: (info: CallInfo, ...args: unknown[]) => unknown;
}

export type MethodTable = Record<string, RpcMethod>;

export function method<const P extends readonly Param<unknown>[]>(
  params: P,
  handler: (...args: ParamValues<P>) => unknown,
): RpcMethod {
  return { params, handler: (_info, ...args) => (handler as (...a: unknown[]) => unknown)(...args) };
}

/** A method that also receives the call info (for connection-bound methods like eth_subscribe). */
export function connectionMethod<const P extends readonly Param<unknown>[]>(
  params: P,
  handler: (info: CallInfo, ...args: ParamValues<P>) => unknown,
): RpcMethod {
  return { params, handler: handler as RpcMethod["handler"] };
}

export interface JsonRpcRequest {
  jsonrpc: "2.0";
  id?: string | number | null;
  method: string;
  params?: unknown;
}

export interface JsonRpcResponse {
  jsonrpc: "2.0";
  id: string | number | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

export interface DispatcherOptions {
  batchLimit: number;
  /** Per-call wall-clock limit in ms (EVM work has its own, shorter limit). */
  callTimeoutMs: number;
}

/** Calls of one batch in flight at once: enough to batch worker-thread work, bounded for fairness. */
const BATCH_CONCURRENCY = 64;

export class RpcDispatcher {
  private readonly methods: MethodTable;
  private readonly opts: DispatcherOptions;
  private readonly logger: Logger;
  private readonly metrics: RpcMetrics | undefined;

  constructor(
    methods: MethodTable,
    opts: DispatcherOptions,
    modules: { logger: Logger; metrics?: RpcMetrics },
  ) {
    this.methods = methods;
    this.opts = opts;
    this.logger = modules.logger;
    this.metrics = modules.metrics;
  }

  has(name: string): boolean {
    return Object.hasOwn(this.methods, name);
  }

  /** Handles a parsed JSON-RPC body (single or batch). Returns undefined for notifications. */
  async handle(body: unknown, info: CallInfo = {}): Promise<JsonRpcResponse | JsonRpcResponse[] | undefined> {
    if (Array.isArray(body)) {
      if (body.length === 0)
        return errorResponse(null, new RpcError(RpcErrorCode.INVALID_REQUEST, "empty batch"));
      if (body.length > this.opts.batchLimit) {
        // As geth: a one-element batch answer carrying the first call's id (clients expect an
        // array for a batch), code -32600.
        const first = body.find(
          (item) => typeof item === "object" && item !== null && Object.hasOwn(item, "id"),
        ) as { id?: unknown } | undefined;
        const id = typeof first?.id === "string" || typeof first?.id === "number" ? first.id : null;
        return [
          errorResponse(
            id,
            new RpcError(
              RpcErrorCode.INVALID_REQUEST,
              `batch too large: ${body.length} calls, limit ${this.opts.batchLimit}`,
            ),
          ),
        ];
      }
      // Calls of a batch run concurrently (up to BATCH_CONCURRENCY at once) and start in order,
      // so e.g. a sender's transactions still reach the pool in nonce order; responses keep
      // the request order.
      const results: (JsonRpcResponse | undefined)[] = new Array(body.length);
      let next = 0;
      const lane = async () => {
        while (next < body.length) {
          const index = next++;
          results[index] = await this.handleOne(body[index], info);
        }
      };
      await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, body.length) }, lane));
      const responses = results.filter((r): r is JsonRpcResponse => r !== undefined);
      return responses.length > 0 ? responses : undefined;
    }
    return this.handleOne(body, info);
  }

  private async handleOne(raw: unknown, info: CallInfo): Promise<JsonRpcResponse | undefined> {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      return errorResponse(null, new RpcError(RpcErrorCode.INVALID_REQUEST, "invalid request"));
    }
    const req = raw as Partial<JsonRpcRequest> & Record<string, unknown>;
    const id = req.id;
    const validId =
      id === undefined ||
      id === null ||
      typeof id === "string" ||
      (typeof id === "number" && Number.isFinite(id));
    if (!validId)
      return errorResponse(null, new RpcError(RpcErrorCode.INVALID_REQUEST, "invalid request id"));
    const responseId = (id ?? null) as string | number | null;
    if (req.jsonrpc !== "2.0" || typeof req.method !== "string") {
      return errorResponse(responseId, new RpcError(RpcErrorCode.INVALID_REQUEST, "invalid request"));
    }
    const isNotification = !Object.hasOwn(req, "id");
    const started = performance.now();
    const name = req.method;
    const method = Object.hasOwn(this.methods, name) ? this.methods[name] : undefined;
    let response: JsonRpcResponse;
    if (method === undefined) {
      response = errorResponse(
        responseId,
        new RpcError(RpcErrorCode.METHOD_NOT_FOUND, `the method ${name} does not exist/is not available`),
      );
      this.metrics?.requests.inc({ method: "unknown", outcome: "error" });
    } else {
      try {
        const args = decodeParams(method.params, req.params);
        const result = await this.withTimeout(Promise.resolve(method.handler(info, ...args)));
        response = { jsonrpc: "2.0", id: responseId, result: result === undefined ? null : result };
        this.metrics?.requests.inc({ method: name, outcome: "ok" });
      } catch (err) {
        const rpcErr = toRpcError(err);
        if (rpcErr.code === RpcErrorCode.INTERNAL)
          this.logger.warn({ method: name, err }, "RPC handler failed");
        response = errorResponse(responseId, rpcErr);
        this.metrics?.requests.inc({ method: name, outcome: "error" });
      }
      this.metrics?.seconds.observe({ method: name }, (performance.now() - started) / 1000);
    }
    return isNotification ? undefined : response;
  }

  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RpcError(RpcErrorCode.TIMEOUT, "request timed out")),
        this.opts.callTimeoutMs,
      );
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }
}

export function errorResponse(id: string | number | null, err: RpcError): JsonRpcResponse {
  return { jsonrpc: "2.0", id, error: err.toJSON() };
}
