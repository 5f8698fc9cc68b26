/** Shared CLI option groups and parsers (RPC, Beacon API, metrics, logging, txpool). */
import { type Command, InvalidArgumentError, Option } from "commander";
import { createLogger, type LogFormat, type Logger, type LogLevel } from "../utils/logger.ts";

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("must be a port number (0-65535)");
  return n;
}

export function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a positive number");
  return n;
}

export function parseInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError("must be a non-negative integer");
  return n;
}

export function parseBigInt(value: string): bigint {
  try {
    const n = BigInt(value);
    if (n < 0n) throw new Error();
    return n;
  } catch {
    throw new InvalidArgumentError("must be a non-negative integer");
  }
}

/** An option holding a bigint (commander cannot print bigint defaults itself). */
function bigOption(flags: string, description: string, def: bigint): Option {
  return new Option(flags, description).argParser(parseBigInt).default(def, def.toString());
}

export function addLogOptions(cmd: Command): Command {
  return cmd
    .option("--log.level <level>", "trace, debug, info, warn, error", "info")
    .option("--log.format <format>", "text or json (default: text on a terminal, json otherwise)");
}

export function loggerFrom(opts: Record<string, unknown>): Logger {
  const level = String(opts["log.level"] ?? "info") as LogLevel;
  if (!["trace", "debug", "info", "warn", "error", "fatal", "silent"].includes(level)) {
    throw new InvalidArgumentError(`unknown log level ${level}`);
  }
  const format = opts["log.format"] as LogFormat | undefined;
  if (format !== undefined && format !== "text" && format !== "json")
    throw new InvalidArgumentError("log format must be text or json");
  return createLogger({ level, format });
}

export function addRpcOptions(cmd: Command, defaults: { http: number; ws: number }): Command {
  return cmd
    .option("--http.addr <host>", "JSON-RPC HTTP and WebSocket listen address", "127.0.0.1")
    .option("--http.port <port>", "JSON-RPC HTTP port", parsePort, defaults.http)
    .option("--ws.port <port>", "JSON-RPC WebSocket port", parsePort, defaults.ws)
    .option("--http.corsdomain <origins>", 'comma-separated browser origins allowed ("*" for any)', "")
    .addOption(
      bigOption(
        "--rpc.gascap <gas>",
        "gas cap for eth_call, eth_estimateGas and traces (0 = none)",
        50_000_000n,
      ),
    )
    .option("--rpc.evmtimeout <ms>", "time limit for EVM work in one call (ms)", parseInteger, 5_000)
    .addOption(
      bigOption(
        "--rpc.txfeecap <wei>",
        "largest fee a submitted transaction may pay (wei, 0 = none)",
        10n ** 21n,
      ),
    )
    .option("--rpc.batchlimit <n>", "most calls in one batch request", parseInteger, 1_000)
    .option(
      "--rpc.bodylimit <bytes>",
      "largest request body or WebSocket message",
      parseInteger,
      5 * 1024 * 1024,
    )
    .option("--rpc.ratelimit <n>", "requests per second per client address (0 = unlimited)", parseInteger, 0)
    .addOption(bigOption("--rpc.logsrange <blocks>", "most blocks one eth_getLogs may span", 10_000n))
    .option("--rpc.debug", "serve the debug_ namespace (on by default in dev)")
    .option(
      "--rpc.admin",
      "serve the admin_ namespace (peers: list, add, remove, ban); keep it off public ports",
    )
    .option("--metrics.addr <host>", "Prometheus metrics listen address", "127.0.0.1")
    .option("--metrics.port <port>", "Prometheus metrics port (/metrics); off unless set", parsePort);
}

export function rpcOptionsFrom(opts: Record<string, unknown>) {
  const cors = String(opts["http.corsdomain"] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return {
    host: String(opts["http.addr"]),
    httpPort: opts["http.port"] as number,
    wsPort: opts["ws.port"] as number,
    bodyLimit: opts["rpc.bodylimit"] as number,
    batchLimit: opts["rpc.batchlimit"] as number,
    corsOrigins: cors,
    rateLimit: opts["rpc.ratelimit"] as number,
    debug: opts["rpc.debug"] === true,
    admin: opts["rpc.admin"] === true,
    options: {
      gasCap: opts["rpc.gascap"] as bigint,
      evmTimeoutMs: opts["rpc.evmtimeout"] as number,
      txFeeCap: opts["rpc.txfeecap"] as bigint,
      logsMaxRange: opts["rpc.logsrange"] as bigint,
    },
  };
}

export function metricsOptionsFrom(
  opts: Record<string, unknown>,
): { host: string; port: number } | undefined {
  const port = opts["metrics.port"] as number | undefined;
  return port === undefined ? undefined : { host: String(opts["metrics.addr"]), port };
}

export function addTxPoolOptions(cmd: Command): Command {
  return cmd
    .option("--txpool.globalslots <n>", "most transactions the pool holds", parseInteger, 16_384)
    .option("--txpool.globalqueue <n>", "most nonce-gapped transactions the pool holds", parseInteger, 4_096)
    .option("--txpool.accountqueue <n>", "most nonce-gapped transactions per sender", parseInteger, 64)
    .addOption(bigOption("--txpool.pricelimit <wei>", "minimum priority fee for remote transactions", 1n))
    .option("--txpool.nojournal", "do not persist local transactions across restarts");
}

export function txpoolOptionsFrom(opts: Record<string, unknown>) {
  return {
    globalSlots: opts["txpool.globalslots"] as number,
    globalQueue: opts["txpool.globalqueue"] as number,
    accountQueue: opts["txpool.accountqueue"] as number,
    priceLimit: opts["txpool.pricelimit"] as bigint,
    journal: opts["txpool.nojournal"] !== true,
  };
}

/**
 * Engine API flags (geth's names). With a default port the API is always served; without one only
 * when --authrpc.port is given.
 */
export function addAuthRpcOptions(cmd: Command, defaults: { port?: number } = {}): Command {
  const port = new Option(
    "--authrpc.port <port>",
    defaults.port !== undefined
      ? "Engine API (JWT-authenticated JSON-RPC) port"
      : "serve the Engine API (JWT-authenticated JSON-RPC) on this port",
  ).argParser(parsePort);
  if (defaults.port !== undefined) port.default(defaults.port);
  return cmd
    .option("--authrpc.addr <host>", "Engine API listen address", "127.0.0.1")
    .addOption(port)
    .option(
      "--authrpc.jwtsecret <file>",
      "file holding the 32-byte hex JWT secret shared with the consensus client; created (mode 0600) if missing (default: <datadir>/jwtsecret)",
    );
}

export function authRpcOptionsFrom(
  opts: Record<string, unknown>,
): { host: string; port: number; jwtSecretFile?: string } | undefined {
  const port = opts["authrpc.port"] as number | undefined;
  if (port === undefined) return undefined;
  const secret = opts["authrpc.jwtsecret"];
  return {
    host: String(opts["authrpc.addr"]),
    port,
    jwtSecretFile: secret === undefined ? undefined : String(secret),
  };
}

/** The Beacon API's customary port (the default REST port of Lighthouse, Lodestar and Nimbus). */
export const DEFAULT_REST_PORT = 5052;

/** Beacon API (REST) flags; the server runs only when the node runs the consensus layer. */
export function addRestOptions(cmd: Command): Command {
  return cmd
    .option("--rest.addr <host>", "Beacon API (REST) listen address", "127.0.0.1")
    .option(
      "--rest.port <port>",
      "Beacon API (REST) port, served when the consensus layer runs",
      parsePort,
      DEFAULT_REST_PORT,
    );
}

export function restOptionsFrom(opts: Record<string, unknown>): { host: string; port: number } {
  return { host: String(opts["rest.addr"]), port: opts["rest.port"] as number };
}

/** p2p flags of `opengpu node`: the network is joined unless `--no-p2p`. */
export function addP2POptions(cmd: Command): Command {
  return cmd
    .option("--no-p2p", "do not join the p2p network (a single-node network)")
    .option("--p2p.addr <host>", "p2p listen address", "0.0.0.0")
    .option("--p2p.port <port>", "p2p TCP port", parsePort, 9000)
    .option(
      "--bootnodes <multiaddrs>",
      "comma-separated multiaddrs with /p2p/<peer id> to connect to (e.g. /ip4/1.2.3.4/tcp/9000/p2p/12D3Koo...)",
      "",
    )
    .option("--max-peers <n>", "most connected peers", parseInteger, 50);
}

export function p2pOptionsFrom(
  opts: Record<string, unknown>,
): { host: string; port: number; bootnodes: string[]; maxPeers: number } | undefined {
  if (opts.p2p === false) return undefined;
  return {
    host: String(opts["p2p.addr"]),
    port: opts["p2p.port"] as number,
    bootnodes: String(opts.bootnodes ?? "")
      .split(",")
      .map((b) => b.trim())
      .filter((b) => b.length > 0),
    maxPeers: opts.maxPeers as number,
  };
}

/** `--interop-validators FROM-TO`: an inclusive range of genesis validator indices. */
export function parseIndexRange(value: string): { from: number; to: number } {
  const match = /^(\d+)-(\d+)$/.exec(value.trim());
  if (match === null) throw new InvalidArgumentError("must be FROM-TO, e.g. 0-15");
  const from = Number(match[1]);
  const to = Number(match[2]);
  if (to < from) throw new InvalidArgumentError("TO must not be below FROM");
  return { from, to };
}
