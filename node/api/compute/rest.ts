/**
 * The compute layer's REST API, `/opengpu/v1/...`, served on the Beacon API's server
 * (`--rest.port`): the same records and listings as the JSON-RPC `opengpu_` namespace, with
 * numbers as decimal strings as the Beacon API writes them and the Beacon API's envelope
 * (`{data}`, lists `{data, meta: {total, nextCursor}}`, errors `{code, message}`).
 *
 *   GET /opengpu/v1/tasks?state=&client=&provider=&cursor=&limit=   newest first
 *   GET /opengpu/v1/tasks/{id}
 *   GET /opengpu/v1/tasks/{id}/bids
 *   GET /opengpu/v1/providers?status=&cursor=&limit=                 registration order
 *   GET /opengpu/v1/providers/{address}
 *   GET /opengpu/v1/models?cursor=&limit=                            registration order
 *   GET /opengpu/v1/models/{sha256}
 *
 * `state` and `status` take names, several comma-separated or repeated. 400 for a malformed or
 * unknown parameter, 404 for an unknown task, provider or model.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { ComputeApiError, HTTP_STATUS, invalidParams } from "./errors.ts";
import { REST_FORMAT as F } from "./format.ts";
import {
  type ComputeQueries,
  type PageRequest,
  parseAddress,
  parseProviderStatus,
  parseSha256,
  parseTaskState,
} from "./queries.ts";

export interface RestRoute {
  /** Operation id (metrics label). */
  id: string;
  /** fastify URL pattern. */
  url: string;
  handler(req: FastifyRequest, reply: FastifyReply): Promise<unknown>;
}

type Query = Record<string, string | string[] | undefined>;

function allowOnly(query: Query, keys: readonly string[]): void {
  for (const key of Object.keys(query))
    if (!keys.includes(key))
      throw invalidParams(
        `unknown query parameter ${JSON.stringify(key)}${keys.length > 0 ? ` (known: ${keys.join(", ")})` : ""}`,
      );
}

function single(query: Query, key: string): string | undefined {
  const value = query[key];
  if (Array.isArray(value)) throw invalidParams(`query parameter ${key} takes one value`);
  return value;
}

function decimal(value: string, what: string, max?: bigint): bigint {
  if (!/^(0|[1-9][0-9]*)$/.test(value))
    throw invalidParams(`${what} must be a decimal integer, got ${JSON.stringify(value)}`);
  const n = BigInt(value);
  if (max !== undefined && n > max) throw invalidParams(`${what} ${value} is too large`);
  return n;
}

function list(query: Query, key: string, parse: (s: string) => number): Set<number> | undefined {
  const value = query[key];
  if (value === undefined) return undefined;
  const values = (Array.isArray(value) ? value : [value]).filter((v) => v !== "");
  if (values.length === 0) throw invalidParams(`query parameter ${key} is empty`);
  return new Set(values.map(parse));
}

function pageOf(query: Query): PageRequest {
  const cursor = single(query, "cursor");
  const limit = single(query, "limit");
  return {
    cursor: cursor === undefined ? undefined : decimal(cursor, "cursor", 2n ** 256n - 1n),
    limit: limit === undefined ? undefined : Number(decimal(limit, "limit", 1_000_000n)),
  };
}

function params(req: FastifyRequest): Record<string, string> {
  return (req.params ?? {}) as Record<string, string>;
}

function queryOf(req: FastifyRequest): Query {
  return (req.query ?? {}) as Query;
}

const next = (cursor: bigint | undefined) => (cursor === undefined ? null : F.num(cursor));

/** Runs `handler`, answering a ComputeApiError with its HTTP status and `{code, message}`. */
function route(id: string, url: string, handler: (req: FastifyRequest) => Promise<unknown>): RestRoute {
  return {
    id,
    url,
    async handler(req, reply) {
      try {
        return await handler(req);
      } catch (err) {
        if (!(err instanceof ComputeApiError)) throw err;
        const code = HTTP_STATUS[err.code];
        return reply
          .code(code)
          .header("content-type", "application/json")
          .send({ code, message: err.message });
      }
    },
  };
}

export function computeRestRoutes(queries: ComputeQueries): RestRoute[] {
  const taskIdOf = (req: FastifyRequest) => decimal(params(req).id ?? "", "task id", 2n ** 256n - 1n);
  return [
    route("opengpuListTasks", "/opengpu/v1/tasks", async (req) => {
      const query = queryOf(req);
      allowOnly(query, ["state", "client", "provider", "cursor", "limit"]);
      const client = single(query, "client");
      const provider = single(query, "provider");
      const result = await queries.listTasks(
        {
          states: list(query, "state", parseTaskState),
          client: client === undefined ? undefined : parseAddress(client, "client"),
          provider: provider === undefined ? undefined : parseAddress(provider, "provider"),
        },
        pageOf(query),
      );
      return {
        data: result.items.map((t) => F.task(t)),
        meta: { total: F.num(result.total), nextCursor: next(result.nextCursor) },
      };
    }),
    route("opengpuGetTask", "/opengpu/v1/tasks/:id", async (req) => {
      allowOnly(queryOf(req), []);
      return { data: F.task(await queries.task(taskIdOf(req))) };
    }),
    route("opengpuGetBids", "/opengpu/v1/tasks/:id/bids", async (req) => {
      allowOnly(queryOf(req), []);
      return { data: (await queries.bids(taskIdOf(req))).map((b) => F.bid(b)) };
    }),
    route("opengpuListProviders", "/opengpu/v1/providers", async (req) => {
      const query = queryOf(req);
      allowOnly(query, ["status", "cursor", "limit"]);
      const result = await queries.listProviders(
        { statuses: list(query, "status", parseProviderStatus) },
        pageOf(query),
      );
      return {
        data: result.items.map((p) => F.provider(p)),
        meta: { total: F.num(result.total), nextCursor: next(result.nextCursor) },
      };
    }),
    route("opengpuGetProvider", "/opengpu/v1/providers/:address", async (req) => {
      allowOnly(queryOf(req), []);
      return { data: F.provider(await queries.provider(parseAddress(params(req).address ?? "", "address"))) };
    }),
    route("opengpuListModels", "/opengpu/v1/models", async (req) => {
      const query = queryOf(req);
      allowOnly(query, ["cursor", "limit"]);
      const result = await queries.listModels(pageOf(query));
      return {
        data: result.items.map((m) => F.model(m)),
        meta: { total: F.num(result.total), nextCursor: next(result.nextCursor) },
      };
    }),
    route("opengpuGetModel", "/opengpu/v1/models/:sha256", async (req) => {
      allowOnly(queryOf(req), []);
      return { data: F.model(await queries.model(parseSha256(params(req).sha256 ?? "", "model sha256"))) };
    }),
  ];
}
