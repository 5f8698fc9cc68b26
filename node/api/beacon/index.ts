/**
 * The Beacon API (REST, https://github.com/ethereum/beacon-APIs) of the node's consensus layer,
 * on its own fastify server (`--rest.addr`:`--rest.port`, 127.0.0.1:5052 by default).
 *
 *   HTTP ─► @lodestar/api route (url, query/param schema, request codec) ─► our method
 *        ◄─ JSON `{data, ...meta}` or SSZ (Accept: application/octet-stream) by the route's
 *           response codec, with its headers (Eth-Consensus-Version, ...)
 *
 * Every route is @lodestar/api's definition, served through its fastify handler
 * (`createFastifyRoute`), so paths, parameters, JSON casing, SSZ encoding and metadata are the
 * spec's as one library writes them for both client and server. The event stream (SSE) has its
 * own handler here (`events.ts` maps chain events to the spec's events).
 *
 * Served: `node` (version, syncing, health, identity, peers, peer count), `beacon` (genesis,
 * headers, blocks, block roots, state root / fork / finality checkpoints / validators /
 * balances / committees, the operation pool: exits, slashings, BLS changes), `config` (spec, fork schedule, deposit contract) and `events`.
 * Beside them, the node mounts further GET routes given in `routes`: the compute layer's REST
 * API under `/opengpu/v1` (node/api/compute/rest.ts).
 * Other routes answer 404 like any unknown path. Errors are the spec's `{code, message}`:
 * 400 for malformed input (ids, query values), 404 for things that do not exist here.
 *
 * Query strings accept repeated keys and comma-separated lists (`?id=1,2&id=3`), as the
 * OpenAPI `explode: false` arrays of the spec require.
 */
import type { ServerResponse } from "node:http";
import { type Endpoint, routes } from "@lodestar/api";
import { ApiError, type ApplicationMethods, createFastifyRoute } from "@lodestar/api/server";
import { type FastifyInstance, fastify } from "fastify";
import type { BeaconChain } from "../../consensus/chain/chain.ts";
import type { OpPool } from "../../consensus/op-pools/op-pool.ts";
import type { OperationSubmitter } from "../../consensus/op-pools/submit.ts";
import type { BeaconApiMetrics } from "../../metrics/beacon-api.ts";
import type { Logger } from "../../utils/logger.ts";
import type { RestRoute } from "../compute/rest.ts";
import { ChainView } from "./chain-view.ts";
import { isEventType, subscribeChainEvents } from "./events.ts";
import { beaconMethods } from "./methods/beacon.ts";
import { configMethods } from "./methods/config.ts";
import { type NetworkInfo, nodeMethods } from "./methods/node.ts";
import { poolMethods } from "./methods/pool.ts";

export interface BeaconApiOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export interface BeaconApiModules {
  chain: BeaconChain;
  /** Identity, peers and sync state from the p2p layer, when the node runs one. */
  network?: NetworkInfo;
  /** The operation pool and its validated submission (the `pool` routes). */
  operations: { pool: OpPool; submit: OperationSubmitter };
  logger: Logger;
  metrics?: BeaconApiMetrics;
  /** Further GET routes served beside the Beacon API's (the compute REST API, `/opengpu/v1`). */
  routes?: readonly RestRoute[];
}

type RouteDefinition<E extends Endpoint> = Parameters<typeof createFastifyRoute<E>>[0];

/** Route label for requests no route matched. */
const UNMATCHED = "unmatched";
/** Bytes of unsent events an event-stream client may fall behind by before it is dropped. */
const MAX_STREAM_BUFFER = 4 * 1024 * 1024;

/**
 * Parses a query string as the Beacon API needs: repeated keys and comma-separated values both
 * make arrays (`qs` with `comma: true`, as Lodestar's server parses it); a single value stays a
 * string, which the route schemas coerce to a one-element array where they expect one.
 */
export function parseQueryString(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [key, raw] of new URLSearchParams(query)) {
    const values = raw.split(",");
    const previous = out[key];
    const all =
      previous === undefined ? values : [...(Array.isArray(previous) ? previous : [previous]), ...values];
    out[key] = all.length === 1 ? all[0] : all;
  }
  return out;
}

export class BeaconApiServer {
  private readonly app: FastifyInstance;
  private readonly logger: Logger;
  /** Open event streams, ended on stop. */
  private readonly streams = new Set<ServerResponse>();
  /** `METHOD url` (fastify's `:param` form) to the route's Beacon API operation id, for metrics. */
  private readonly operationIds = new Map<string, string>();
  /** Where the server listens, once started (`http://host:port`). */
  url: string | undefined;

  private constructor(modules: BeaconApiModules) {
    this.logger = modules.logger;
    const chain = modules.chain;
    const config = chain.config;
    const view = new ChainView(chain);
    const metrics = modules.metrics;
    const app = fastify({
      logger: false,
      // Arrays in query strings and coercion of query/path strings to the schemas' types.
      ajv: { customOptions: { coerceTypes: "array" } },
      routerOptions: { querystringParser: parseQueryString },
    });
    this.app = app;

    app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
      let code: number;
      let message = err.message;
      if (err.validation !== undefined) code = 400;
      else if (err instanceof ApiError) code = err.statusCode;
      else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
        code = err.statusCode;
      else {
        code = 500;
        this.logger.error({ err, url: req.url }, "Beacon API request failed");
        message = `Internal server error: ${err.message}`;
      }
      void reply.code(code).header("content-type", "application/json").send({ code, message });
    });
    app.setNotFoundHandler((req, reply) => {
      void reply
        .code(404)
        .send({ code: 404, message: `Route ${req.method}:${req.url.split("?")[0]} not found` });
    });
    if (metrics !== undefined) {
      app.addHook("onResponse", async (req, reply) => {
        const url = req.routeOptions.url;
        const route =
          url === undefined ? UNMATCHED : (this.operationIds.get(`${req.method} ${url}`) ?? UNMATCHED);
        metrics.onRequest(route, reply.statusCode, reply.elapsedTime / 1000);
      });
    }

    const beaconRoutes = routes.beacon.getDefinitions(config);
    this.register(beaconRoutes, beaconMethods(view));
    this.register(beaconRoutes, poolMethods(modules.operations.pool, modules.operations.submit));
    this.register(routes.node.getDefinitions(config), nodeMethods(chain, modules.network));
    this.register(routes.config.getDefinitions(config), configMethods(config));
    this.registerEventStream(chain, metrics);
    for (const route of modules.routes ?? []) {
      this.operationIds.set(`GET ${route.url}`, route.id);
      app.get(route.url, route.handler);
    }
  }

  static async start(opts: BeaconApiOptions, modules: BeaconApiModules): Promise<BeaconApiServer> {
    const server = new BeaconApiServer(modules);
    server.url = await server.app.listen({ host: opts.host, port: opts.port });
    server.logger.info({ url: server.url }, "Beacon API listening");
    if (!isLoopback(opts.host))
      server.logger.warn(
        { host: opts.host },
        "Beacon API is reachable beyond this machine: keep untrusted traffic away",
      );
    return server;
  }

  async stop(): Promise<void> {
    for (const stream of this.streams) stream.end();
    this.streams.clear();
    await this.app.close();
  }

  /** Serves `methods` on the routes @lodestar/api defines for them (one namespace's definitions). */
  private register<Es extends Record<string, Endpoint>, K extends keyof Es & string>(
    definitions: { [P in keyof Es]: RouteDefinition<Es[P]> },
    methods: Pick<ApplicationMethods<Es>, K>,
  ): void {
    for (const id of Object.keys(methods) as K[]) {
      const route = createFastifyRoute(definitions[id], methods[id], id);
      this.operationIds.set(`${route.method} ${route.url}`, id);
      this.app.route(route);
    }
  }

  /**
   * `/eth/v1/events?topics=...`: Server-Sent Events (`event: <topic>` / `data: <json>`), one
   * stream per request until the client disconnects or the server stops. The route definition
   * gives the URL and query schema; unknown topics are a 400 before the stream opens.
   */
  private registerEventStream(chain: BeaconChain, metrics: BeaconApiMetrics | undefined): void {
    const config = chain.config;
    const serdes = routes.events.getEventSerdes(config);
    const route = createFastifyRoute(
      routes.events.getDefinitions(config).eventstream,
      async () => {},
      "eventstream",
    );
    this.operationIds.set(`${route.method} ${route.url}`, "eventstream");
    this.app.route<{ Querystring: { topics: string[] } }>({
      url: route.url,
      method: route.method,
      schema: route.schema,
      handler: async (req, reply) => {
        const topics = new Set<routes.events.EventType>();
        for (const topic of req.query.topics) {
          if (!isEventType(topic)) throw new ApiError(400, `Invalid topic: ${topic}`);
          topics.add(topic);
        }
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          "content-type": "text/event-stream",
          "cache-control": "no-cache,no-transform",
          connection: "keep-alive",
          // Proxies (nginx) must not buffer the stream.
          "x-accel-buffering": "no",
        });
        res.flushHeaders();
        const unsubscribe = subscribeChainEvents(chain, topics, (event) => {
          // A client that stops reading is dropped rather than buffered for without bound.
          if (res.writableLength > MAX_STREAM_BUFFER) res.destroy();
          else res.write(`event: ${event.type}\ndata: ${JSON.stringify(serdes.toJson(event))}\n\n`);
        });
        this.streams.add(res);
        metrics?.onRequest("eventstream", 200, reply.elapsedTime / 1000);
        metrics?.onEventStream(1);
        res.once("close", () => {
          unsubscribe();
          this.streams.delete(res);
          metrics?.onEventStream(-1);
        });
      },
    });
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}
