/**
 * `opengpu node --external-cl` as a real process: init a datadir, start the EL alone, reach its
 * Engine API with the secret file it generated, stop it with SIGTERM.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HttpEngine, parseJwtSecret } from "../../node/api/engine/index.ts";
import { ENGINE_CAPABILITIES } from "../../node/execution/engine/types.ts";

const BIN = join(import.meta.dirname, "..", "..", "bin", "opengpu.js");
const opengpu = (args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: "utf8" });

/** Resolves with the first JSON log line whose msg matches. */
function waitForLog(child: ChildProcess, msg: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(
      () => reject(new Error(`no "${msg}" log within ${timeoutMs} ms:\n${buffered}`)),
      timeoutMs,
    );
    child.stderr?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      for (const line of buffered.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.msg === msg) {
            clearTimeout(timer);
            resolve(entry);
          }
        } catch {
          // partial line
        }
      }
    });
    child.on("exit", (code) => reject(new Error(`exited with ${code} before "${msg}":\n${buffered}`)));
  });
}

describe("opengpu node --external-cl", () => {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-cli-el-"));
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child !== undefined && child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists the authrpc flags with geth's defaults", () => {
    const help = opengpu(["node", "--help"]);
    expect(help).toContain("--authrpc.addr <host>");
    expect(help).toMatch(/--authrpc\.port <port>[\s\S]*\(default: 8551\)/);
    expect(help).toContain("--authrpc.jwtsecret <file>");
  });

  it("serves the Engine API with a generated secret and produces no blocks", async () => {
    const datadir = join(dir, "data");
    const genesisFile = join(dir, "genesis.json");
    const secretFile = join(dir, "secrets", "jwt.hex");
    opengpu(["genesis", "devnet", "--resolved", "--out", genesisFile]);
    opengpu(["init", "--datadir", datadir, "--genesis", genesisFile, "--log.level", "error"]);
    child = spawn(
      process.execPath,
      [
        BIN,
        "node",
        "--datadir",
        datadir,
        "--external-cl",
        "--http.port",
        "0",
        "--ws.port",
        "0",
        "--authrpc.port",
        "0",
        "--authrpc.jwtsecret",
        secretFile,
        "--log.format",
        "json",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const listening = await waitForLog(child, "Engine API listening (JWT authenticated)");
    expect(String(listening.url)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    const engine = new HttpEngine({
      url: String(listening.url),
      jwtSecret: parseJwtSecret(readFileSync(secretFile, "utf8")),
    });
    expect(await engine.exchangeCapabilities([])).toEqual([...ENGINE_CAPABILITIES]);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await engine.request("eth_blockNumber", [])).toBe("0x0");

    const exited = new Promise<number | null>((resolve) => child?.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
