/**
 * The Engine API served to (and called by) a consensus client over authenticated HTTP.
 *
 *   consensus client ──HTTP + JWT──► EngineServer (server.ts: auth, limits)
 *                                      └─► RpcDispatcher ─► engine_* (methods.ts, strict params.ts)
 *                                                          └► eth_* subset ─► ExecutionEngine
 *   our consensus layer ─► HttpEngine (client.ts) ──HTTP + JWT──► a separate EL process
 *
 * `startEngineApi` is what the node calls: it resolves the JWT secret file (creating it like
 * geth when missing) and starts the server.
 */
import { join } from "node:path";
import type { ExecutionEngine } from "../../execution/engine/types.ts";
import type { RpcMetrics } from "../../metrics/index.ts";
import type { Logger } from "../../utils/logger.ts";
import type { RpcContext } from "../rpc/index.ts";
import { loadOrCreateJwtSecret } from "./jwt.ts";
import { EngineServer } from "./server.ts";

export { HttpEngine, type HttpEngineOptions } from "./client.ts";
export {
  JwtError,
  JwtErrorCode,
  loadOrCreateJwtSecret,
  parseJwtSecret,
  signJwt,
  verifyJwt,
} from "./jwt.ts";
export { ENGINE_PORT_ETH_METHODS, ENGINE_PORT_METHODS } from "./methods.ts";
export { DEFAULT_AUTHRPC_PORT, EngineServer, type EngineServerOptions } from "./server.ts";

/** geth's default secret location inside the datadir when `--authrpc.jwtsecret` is not given. */
export const DEFAULT_JWT_SECRET_FILE = "jwtsecret";

export interface AuthRpcOptions {
  /** Listen address (127.0.0.1 by default in the CLI). */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Secret file; created (mode 0600) if missing. Defaults to `<datadir>/jwtsecret`. */
  jwtSecretFile?: string;
}

export async function startEngineApi(
  opts: AuthRpcOptions & { datadir: string },
  modules: { engine: ExecutionEngine; eth?: RpcContext; logger: Logger; metrics?: RpcMetrics },
): Promise<{ server: EngineServer; jwtSecretFile: string }> {
  const jwtSecretFile = opts.jwtSecretFile ?? join(opts.datadir, DEFAULT_JWT_SECRET_FILE);
  const { secret, created } = loadOrCreateJwtSecret(jwtSecretFile);
  modules.logger.info({ path: jwtSecretFile }, created ? "Generated JWT secret" : "Loaded JWT secret");
  const server = new EngineServer({ host: opts.host, port: opts.port, jwtSecret: secret }, modules);
  await server.start();
  return { server, jwtSecretFile };
}
