/**
 * Test helpers for the Engine API: a shared dev genesis, an EL-only node (no block producer,
 * Engine API on a random loopback port, JWT secret generated in its temp datadir) and raw
 * HTTP calls with arbitrary Authorization headers.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devnetDefinition, resolveGenesis, TEST_MNEMONIC } from "../../genesis/index.ts";
import type { GethGenesis } from "../../genesis/types.ts";
import { HttpEngine, parseJwtSecret } from "../../node/api/engine/index.ts";
import { OpenGpuNode } from "../../node/node.ts";
import { silentLogger } from "../../node/utils/logger.ts";

export function devGenesis(accounts = 10): GethGenesis {
  return resolveGenesis(
    devnetDefinition({ devAccounts: { mnemonic: TEST_MNEMONIC, count: accounts, balance: "10000" } }),
    { now: Math.floor(Date.now() / 1000) - 10 },
  );
}

export interface ElOnlyHandle {
  node: OpenGpuNode;
  /** Engine API endpoint (JWT). */
  authUrl: string;
  /** Regular JSON-RPC endpoint (no auth). */
  httpUrl: string;
  secret: Uint8Array;
  jwtSecretFile: string;
  datadir: string;
  engine: HttpEngine;
  /** Regular JSON-RPC call that throws on error. */
  call<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  stop(): Promise<void>;
}

/** `opengpu node --external-cl` in process: the genesis, no `dev`, authrpc on a free port. */
export async function startElOnlyNode(genesis: GethGenesis): Promise<ElOnlyHandle> {
  const datadir = mkdtempSync(join(tmpdir(), "opengpu-el-"));
  const node = await OpenGpuNode.start(
    {
      datadir,
      genesis,
      rpc: {
        host: "127.0.0.1",
        httpPort: 0,
        bodyLimit: 5 * 1024 * 1024,
        batchLimit: 100,
        corsOrigins: [],
        rateLimit: 0,
        debug: false,
        options: {},
      },
      authrpc: { host: "127.0.0.1", port: 0 },
    },
    silentLogger(),
  );
  const jwtSecretFile = node.jwtSecretFile ?? "";
  const secret = parseJwtSecret(readFileSync(jwtSecretFile, "utf8"));
  const authUrl = node.engineApi?.url ?? "";
  const httpUrl = node.rpc.server.httpUrl ?? "";
  let id = 0;
  return {
    node,
    authUrl,
    httpUrl,
    secret,
    jwtSecretFile,
    datadir,
    engine: new HttpEngine({ url: authUrl, jwtSecret: secret, clientId: "test-cl" }),
    async call<T>(method: string, params: unknown[] = []): Promise<T> {
      const response = await fetch(httpUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
      });
      const body = (await response.json()) as { result?: unknown; error?: { code: number; message: string } };
      if (body.error !== undefined) throw new Error(`${method}: ${body.error.code} ${body.error.message}`);
      return body.result as T;
    },
    async stop() {
      await node.stop();
      rmSync(datadir, { recursive: true, force: true });
    },
  };
}

/** POSTs a JSON-RPC body with the given Authorization header (none if undefined). */
export async function rawPost(
  url: string,
  authorization: string | undefined,
  body: unknown,
): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (authorization !== undefined) headers.authorization = authorization;
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: response.status, text: await response.text() };
}
