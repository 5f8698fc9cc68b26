import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../utils/logger.ts";
import { P2PError, P2PHost, parseBootnode } from "./host.ts";

const dirs: string[] = [];
const hosts: P2PHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(bootnodes: string[] = [], datadir?: string): Promise<P2PHost> {
  const dir = datadir ?? mkdtempSync(join(tmpdir(), "opengpu-p2p-"));
  if (datadir === undefined) dirs.push(dir);
  const host = await P2PHost.start(
    { datadir: dir, host: "127.0.0.1", port: 0, bootnodes, maxPeers: 10 },
    { logger: silentLogger() },
  );
  hosts.push(host);
  return host;
}

function connected(host: P2PHost, peerId: string): Promise<void> {
  if (host.peers.includes(peerId)) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (e: CustomEvent) => {
      if (String(e.detail) === peerId) {
        host.libp2p.removeEventListener("peer:connect", on);
        resolve();
      }
    };
    host.libp2p.addEventListener("peer:connect", on);
  });
}

describe("p2p host", () => {
  it("keeps its peer id across restarts in a 0600 key file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "opengpu-p2p-"));
    dirs.push(dir);
    const first = await start([], dir);
    const id = first.peerId;
    await first.stop();
    hosts.splice(hosts.indexOf(first), 1);
    expect(statSync(join(dir, "p2p", "node-key")).mode & 0o777).toBe(0o600);
    const second = await start([], dir);
    expect(second.peerId).toBe(id);
  });

  it("dials its bootnodes and redials them after a disconnect; a banned peer stays out", async () => {
    const boot = await start();
    const node = await start([boot.multiaddrs[0]]);
    await connected(node, boot.peerId);
    await connected(boot, node.peerId);
    // The bootnode hangs up: the node notices, then dials it again by itself.
    const gone = new Promise<void>((resolve) =>
      node.libp2p.addEventListener("peer:disconnect", () => resolve(), { once: true }),
    );
    await boot.libp2p.hangUp(node.libp2p.peerId);
    await gone;
    expect(node.peers).not.toContain(boot.peerId);
    await connected(node, boot.peerId);
    // Banned by the bootnode: disconnected and refused while the ban lasts.
    await boot.ban(node.peerId, 60_000, "test");
    expect(boot.isBanned(node.peerId)).toBe(true);
    await expect(boot.libp2p.dial(node.libp2p.getMultiaddrs()[0])).rejects.toThrow();
  });

  it("refuses bootnodes without a peer id or that are not multiaddrs", () => {
    expect(() => parseBootnode("/ip4/127.0.0.1/tcp/9000")).toThrow(/has no \/p2p\/<peer id>/);
    expect(() => parseBootnode("enode://nope")).toThrow(P2PError);
  });
});
