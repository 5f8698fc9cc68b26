/**
 * JSON-RPC transports: HTTP (POST /, batches, body-size limit, optional CORS) and WebSocket
 * (subscriptions), both on fastify, both bound to 127.0.0.1 unless told otherwise. They share
 * one `RpcDispatcher`. GET /health on the HTTP port reports liveness and the head.
 */
import { randomBytes } from "node:crypto";
import websocket from "@fastify/websocket";
import { type FastifyInstance, fastify } from "fastify";
import type { RpcMetrics } from "../../metrics/index.ts";
import type { Logger } from "../../utils/logger.ts";
import { RpcError, RpcErrorCode } from "./errors.ts";
import { errorResponse, type RpcConnection, type RpcDispatcher } from "./registry.ts";

export interface RpcServerOptions {
  host: string;
  /** HTTP port; undefined disables HTTP, 0 picks a free port. */
  httpPort?: number;
  /** WebSocket port; undefined disables WebSocket, 0 picks a free port. */
  wsPort?: number;
  /** Largest request body / WebSocket message in bytes (geth: 5 MiB). */
  bodyLimit: number;
  /** Browser origins allowed by CORS (`*` for any); none by default. */
  corsOrigins: string[];
  /** Requests per second per client address; 0 disables the limit. */
  rateLimit: number;
  /** Extra JSON for GET /health. */
  health?: () => Record<string, unknown>;
}

const PARSE_ERROR = Symbol("parse error");

class RateLimiter {
  private readonly perSecond: number;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(perSecond: number) {
    this.perSecond = perSecond;
  }
  take(key: string, n = 1): boolean {
    if (this.perSecond <= 0) return true;
    const now = Date.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.perSecond, at: now };
    bucket.tokens = Math.min(this.perSecond, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < n) return false;
    bucket.tokens -= n;
    return true;
  }
}

function rateLimited() {
  return errorResponse(null, new RpcError(RpcErrorCode.LIMIT_EXCEEDED, "rate limit exceeded"));
}

export class RpcServer {
  private readonly opts: RpcServerOptions;
  private readonly dispatcher: RpcDispatcher;
  private readonly logger: Logger;
  private readonly metrics: RpcMetrics | undefined;
  private readonly limiter: RateLimiter;
  private http: FastifyInstance | undefined;
  private ws: FastifyInstance | undefined;
  httpUrl: string | undefined;
  wsUrl: string | undefined;

  constructor(
    opts: RpcServerOptions,
    modules: { dispatcher: RpcDispatcher; logger: Logger; metrics?: RpcMetrics },
  ) {
    this.opts = opts;
    this.dispatcher = modules.dispatcher;
    this.logger = modules.logger;
    this.metrics = modules.metrics;
    this.limiter = new RateLimiter(opts.rateLimit);
  }

  async start(): Promise<void> {
    if (this.opts.httpPort !== undefined) {
      this.http = this.createHttp();
      const address = await this.http.listen({ host: this.opts.host, port: this.opts.httpPort });
      this.httpUrl = address;
      this.logger.info({ url: address }, "HTTP JSON-RPC listening");
    }
    if (this.opts.wsPort !== undefined) {
      this.ws = await this.createWs();
      const address = await this.ws.listen({ host: this.opts.host, port: this.opts.wsPort });
      this.wsUrl = address.replace(/^http/, "ws");
      this.logger.info({ url: this.wsUrl }, "WebSocket JSON-RPC listening");
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.http?.close(), this.ws?.close()]);
  }

  private cors(origin: string | undefined): string | undefined {
    if (origin === undefined || this.opts.corsOrigins.length === 0) return undefined;
    if (this.opts.corsOrigins.includes("*")) return "*";
    return this.opts.corsOrigins.includes(origin) ? origin : undefined;
  }

  private createHttp(): FastifyInstance {
    const app = fastify({ bodyLimit: this.opts.bodyLimit, logger: false, return503OnClosing: true });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      ["application/json", "application/json-rpc", "application/jsonrequest"],
      { parseAs: "string" },
      (_req, body, done) => {
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(null, PARSE_ERROR);
        }
      },
    );
    app.addContentTypeParser("*", (_req, _payload, done) => {
      done(
        Object.assign(new Error("invalid content type, only application/json is supported"), {
          statusCode: 415,
        }),
        undefined,
      );
    });
    app.options("/", (req, reply) => {
      const origin = this.cors(req.headers.origin);
      if (origin !== undefined) {
        reply.header("access-control-allow-origin", origin);
        reply.header("access-control-allow-methods", "POST, GET, OPTIONS");
        reply.header("access-control-allow-headers", "content-type");
      }
      reply.code(204).send();
    });
    app.get("/health", async () => ({ status: "ok", ...(this.opts.health?.() ?? {}) }));
    app.post("/", async (req, reply) => {
      const origin = this.cors(req.headers.origin);
      if (origin !== undefined) reply.header("access-control-allow-origin", origin);
      reply.header("content-type", "application/json");
      if (req.body === PARSE_ERROR) {
        return JSON.stringify(errorResponse(null, new RpcError(RpcErrorCode.PARSE_ERROR, "parse error")));
      }
      const calls = Array.isArray(req.body) ? req.body.length : 1;
      if (!this.limiter.take(req.ip, calls)) return JSON.stringify(rateLimited());
      const response = await this.dispatcher.handle(req.body);
      if (response === undefined) {
        reply.code(200);
        return "";
      }
      return JSON.stringify(response);
    });
    app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
      const status = err.statusCode ?? 500;
      reply.code(status).header("content-type", "application/json");
      const code = status === 413 ? RpcErrorCode.LIMIT_EXCEEDED : RpcErrorCode.INVALID_REQUEST;
      reply.send(
        JSON.stringify(
          errorResponse(null, new RpcError(code, status === 413 ? "request body too large" : err.message)),
        ),
      );
    });
    return app;
  }

  private async createWs(): Promise<FastifyInstance> {
    const app = fastify({ logger: false });
    await app.register(websocket, { options: { maxPayload: this.opts.bodyLimit } });
    app.get("/", { websocket: true }, (socket, req) => {
      const closeListeners: (() => void)[] = [];
      const connection: RpcConnection = {
        id: randomBytes(8).toString("hex"),
        send: (message) => {
          if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
        },
        onClose: (listener) => closeListeners.push(listener),
      };
      this.metrics?.wsConnections.inc();
      socket.on("close", () => {
        this.metrics?.wsConnections.dec();
        for (const listener of closeListeners) listener();
      });
      socket.on("message", (raw: Buffer) => {
        let body: unknown;
        try {
          body = JSON.parse(raw.toString("utf8"));
        } catch {
          connection.send(errorResponse(null, new RpcError(RpcErrorCode.PARSE_ERROR, "parse error")));
          return;
        }
        const calls = Array.isArray(body) ? body.length : 1;
        if (!this.limiter.take(req.ip, calls)) {
          connection.send(rateLimited());
          return;
        }
        void this.dispatcher.handle(body, { connection }).then((response) => {
          if (response !== undefined) connection.send(response);
        });
      });
    });
    return app;
  }
}
