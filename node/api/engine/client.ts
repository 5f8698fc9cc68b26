/**
 * `HttpEngine`: an `ExecutionEngine` that speaks the Engine API over HTTP to a separate
 * execution-layer process (ours or geth), signing a fresh HS256 JWT for every request. Our
 * consensus layer uses it in place of `InProcessEngine` when the EL runs on its own.
 *
 * Errors: a JSON-RPC error from the EL becomes an `EngineError` with the EL's code
 * (-38001..-38005, -32602, ...); a transport failure (connection refused, timeout, HTTP 401,
 * a body that is not JSON-RPC) becomes an `EngineError` with -32603 and says what happened.
 */
import {
  type ClientVersionV1,
  EngineError,
  type ExecutionEngine,
  type ExecutionPayloadV3,
  type ForkchoiceStateV1,
  type ForkchoiceUpdatedResponse,
  type GetPayloadV3Response,
  type GetPayloadV4Response,
  type Hex,
  type PayloadAttributesV3,
  type PayloadStatus,
  type PayloadStatusV1,
} from "../../execution/engine/types.ts";
import { RpcErrorCode } from "../rpc/errors.ts";
import { JwtError, JwtErrorCode, signJwt } from "./jwt.ts";

export interface HttpEngineOptions {
  /** The EL's Engine API endpoint, e.g. `http://127.0.0.1:8551`. */
  url: string;
  /** The 32-byte shared secret. */
  jwtSecret: Uint8Array;
  /** Per-request limit in ms (default 30 s; newPayload of a large block can take a while). */
  timeoutMs?: number;
  /** Sent as the token's `id` claim (execution-apis: optional client identity). */
  clientId?: string;
}

const STATUSES = new Set<PayloadStatus>(["VALID", "INVALID", "SYNCING", "ACCEPTED", "INVALID_BLOCK_HASH"]);

function transportError(message: string, cause?: unknown): EngineError {
  const err = new EngineError(RpcErrorCode.INTERNAL, message);
  if (cause !== undefined) err.cause = cause;
  return err;
}

function checkStatus(value: unknown, method: string): PayloadStatusV1 {
  const status = value as Partial<PayloadStatusV1> | null;
  if (typeof status !== "object" || status === null || !STATUSES.has(status.status as PayloadStatus)) {
    throw transportError(`${method}: unexpected payload status ${JSON.stringify(value)}`);
  }
  return status as PayloadStatusV1;
}

export class HttpEngine implements ExecutionEngine {
  private readonly opts: HttpEngineOptions;
  private nextId = 1;

  constructor(opts: HttpEngineOptions) {
    if (opts.jwtSecret.length !== 32)
      throw new JwtError(JwtErrorCode.INVALID_SECRET, "invalid JWT secret: want 32 bytes");
    this.opts = opts;
  }

  /** One JSON-RPC call on the Engine API port (engine_ or the eth_ methods served there). */
  async request<T>(method: string, params: unknown[]): Promise<T> {
    const id = this.nextId++;
    const token = signJwt(
      this.opts.jwtSecret,
      this.opts.clientId !== undefined ? { id: this.opts.clientId } : {},
    );
    let response: Response;
    try {
      response = await fetch(this.opts.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw transportError(`${method}: ${this.opts.url} unreachable: ${(err as Error).message}`, err);
    }
    const text = await response.text();
    if (!response.ok) {
      throw transportError(`${method}: HTTP ${response.status} from ${this.opts.url}: ${text.trim()}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw transportError(`${method}: response is not JSON`);
    }
    const message = body as { id?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
    if (typeof message !== "object" || message === null || message.id !== id) {
      throw transportError(`${method}: response is not a JSON-RPC response to request ${id}`);
    }
    if (message.error !== undefined && message.error !== null) {
      const code = typeof message.error.code === "number" ? message.error.code : RpcErrorCode.INTERNAL;
      throw new EngineError(code, String(message.error.message ?? "unknown error"));
    }
    if (!("result" in message)) throw transportError(`${method}: response has neither result nor error`);
    return message.result as T;
  }

  exchangeCapabilities(methods: string[]): Promise<string[]> {
    return this.request("engine_exchangeCapabilities", [methods]);
  }

  getClientVersionV1(client: ClientVersionV1): Promise<ClientVersionV1[]> {
    return this.request("engine_getClientVersionV1", [client]);
  }

  async newPayloadV3(
    payload: ExecutionPayloadV3,
    versionedHashes: Hex[],
    parentBeaconBlockRoot: Hex,
  ): Promise<PayloadStatusV1> {
    const status = await this.request("engine_newPayloadV3", [
      payload,
      versionedHashes,
      parentBeaconBlockRoot,
    ]);
    return checkStatus(status, "engine_newPayloadV3");
  }

  async newPayloadV4(
    payload: ExecutionPayloadV3,
    versionedHashes: Hex[],
    parentBeaconBlockRoot: Hex,
    executionRequests: Hex[],
  ): Promise<PayloadStatusV1> {
    const status = await this.request("engine_newPayloadV4", [
      payload,
      versionedHashes,
      parentBeaconBlockRoot,
      executionRequests,
    ]);
    return checkStatus(status, "engine_newPayloadV4");
  }

  async forkchoiceUpdatedV3(
    state: ForkchoiceStateV1,
    attributes: PayloadAttributesV3 | null,
  ): Promise<ForkchoiceUpdatedResponse> {
    const response = await this.request<ForkchoiceUpdatedResponse>("engine_forkchoiceUpdatedV3", [
      state,
      attributes,
    ]);
    checkStatus(response?.payloadStatus, "engine_forkchoiceUpdatedV3");
    return response;
  }

  getPayloadV3(payloadId: Hex): Promise<GetPayloadV3Response> {
    return this.request("engine_getPayloadV3", [payloadId]);
  }

  getPayloadV4(payloadId: Hex): Promise<GetPayloadV4Response> {
    return this.request("engine_getPayloadV4", [payloadId]);
  }
}
