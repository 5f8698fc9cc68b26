/**
 * The authenticated Engine API endpoint (geth's `--authrpc.*`): JSON-RPC over HTTP POST on its
 * own port (127.0.0.1:8551 by default), every request carrying an HS256 JWT in
 * `Authorization: Bearer`. Requests without a valid, fresh token get HTTP 401 with geth's plain
 * text reason before any JSON is parsed. Behind it: the engine_ methods and a few eth_ ones
 * (methods.ts) on the shared `RpcDispatcher`.
 *
 * Owns: the listening socket, authentication and transport limits. Not CORS, not rate limits,
 * not WebSocket (consensus clients use HTTP).
 */

import { type FastifyInstance, fastify } from "fastify";
import type { ExecutionEngine } from "../../execution/engine/types.ts";
import type { RpcMetrics } from "../../metrics/index.ts";
import type { Logger } from "../../utils/logger.ts";
import { RpcError, RpcErrorCode } from "../rpc/errors.ts";
import type { RpcContext } from "../rpc/index.ts";
import { errorResponse, RpcDispatcher } from "../rpc/registry.ts";
import { JwtError, JwtErrorCode, verifyAuthorization } from "./jwt.ts";
import { engineEthMethods, engineMethods } from "./methods.ts";

export const DEFAULT_AUTHRPC_PORT = 8551;
/** geth's limits for the engine endpoint: payloads can be large. */
export const ENGINE_BODY_LIMIT = 128 * 1024 * 1024;
export const ENGINE_BATCH_LIMIT = 2_000;

export interface EngineServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The 32-byte shared secret (see jwt.ts `loadOrCreateJwtSecret`). */
  jwtSecret: Uint8Array;
  bodyLimit?: number;
  batchLimit?: number;
  /** Per-call limit in ms; importing a large block can take a while. */
  callTimeoutMs?: number;
}

export interface EngineServerModules {
  engine: ExecutionEngine;
  /** Serves the eth_ subset from this context; without it only engine_ methods are served. */
  eth?: RpcContext;
  logger: Logger;
  metrics?: RpcMetrics;
}

const PARSE_ERROR = Symbol("parse error");

export class EngineServer {
  private readonly opts: EngineServerOptions;
  private readonly logger: Logger;
  private readonly dispatcher: RpcDispatcher;
  private app: FastifyInstance | undefined;
  /** `http://host:port` once listening. */
  url: string | undefined;

  constructor(opts: EngineServerOptions, modules: EngineServerModules) {
    if (opts.jwtSecret.length !== 32)
      throw new JwtError(JwtErrorCode.INVALID_SECRET, "invalid JWT secret: want 32 bytes");
    this.opts = opts;
    this.logger = modules.logger;
    const methods = {
      ...engineMethods(modules.engine),
      ...(modules.eth !== undefined ? engineEthMethods(modules.eth) : {}),
    };
    this.dispatcher = new RpcDispatcher(
      methods,
      { batchLimit: opts.batchLimit ?? ENGINE_BATCH_LIMIT, callTimeoutMs: opts.callTimeoutMs ?? 120_000 },
      { logger: modules.logger, metrics: modules.metrics },
    );
  }

  async start(): Promise<string> {
    this.app = this.createApp();
    this.url = await this.app.listen({ host: this.opts.host, port: this.opts.port });
    this.logger.info({ url: this.url }, "Engine API listening (JWT authenticated)");
    return this.url;
  }

  async stop(): Promise<void> {
    await this.app?.close();
    this.app = undefined;
  }

  private createApp(): FastifyInstance {
    const app = fastify({
      bodyLimit: this.opts.bodyLimit ?? ENGINE_BODY_LIMIT,
      logger: false,
      return503OnClosing: true,
    });
    // Authentication first: nothing about the request is looked at before the token checks out.
    app.addHook("onRequest", async (req, reply) => {
      try {
        verifyAuthorization(req.headers.authorization, this.opts.jwtSecret);
      } catch (err) {
        if (!(err instanceof JwtError)) throw err;
        this.logger.debug({ reason: err.code, ip: req.ip }, "Engine API request rejected");
        return reply.code(401).header("content-type", "text/plain; charset=utf-8").send(`${err.message}\n`);
      }
    });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(["application/json"], { parseAs: "string" }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(null, PARSE_ERROR);
      }
    });
    app.addContentTypeParser("*", (_req, _payload, done) => {
      done(
        Object.assign(new Error("invalid content type, only application/json is supported"), {
          statusCode: 415,
        }),
        undefined,
      );
    });
    app.post("/", async (req, reply) => {
      reply.header("content-type", "application/json");
      if (req.body === PARSE_ERROR) {
        return JSON.stringify(errorResponse(null, new RpcError(RpcErrorCode.PARSE_ERROR, "parse error")));
      }
      const response = await this.dispatcher.handle(req.body);
      return response === undefined ? "" : JSON.stringify(response);
    });
    app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
      const status = err.statusCode ?? 500;
      const code = status === 413 ? RpcErrorCode.LIMIT_EXCEEDED : RpcErrorCode.INVALID_REQUEST;
      const message = status === 413 ? "request body too large" : err.message;
      reply
        .code(status)
        .header("content-type", "application/json")
        .send(JSON.stringify(errorResponse(null, new RpcError(code, message))));
    });
    return app;
  }
}
