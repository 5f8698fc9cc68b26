/**
 * Watching a devnet from the outside for multi-node tests: each node's head and finality over
 * the Beacon API, a background recorder of every finalized (epoch, root) pair any node reported
 * (two nodes must never finalize different roots for one epoch), and admin_ peer helpers.
 */
import type { Devnet, DevnetNode } from "../../scripts/devnet.ts";
import { beacon, rpc } from "./util.ts";

export interface Finality {
  finalized: { epoch: number; root: string };
  justified: { epoch: number; root: string };
}

export async function finalityOf(n: DevnetNode): Promise<Finality> {
  const r = await beacon<{
    data: { finalized: { epoch: string; root: string }; current_justified: { epoch: string; root: string } };
  }>(n.rest, "/eth/v1/beacon/states/head/finality_checkpoints");
  return {
    finalized: { epoch: Number(r.data.finalized.epoch), root: r.data.finalized.root },
    justified: { epoch: Number(r.data.current_justified.epoch), root: r.data.current_justified.root },
  };
}

export async function headOf(n: DevnetNode): Promise<{ root: string; slot: number }> {
  const r = await beacon<{ data: { root: string; header: { message: { slot: string } } } }>(
    n.rest,
    "/eth/v1/beacon/headers/head",
  );
  return { root: r.data.root, slot: Number(r.data.header.message.slot) };
}

/** Whether node `n` knows block `root` (its Beacon API answers for it). */
export async function knowsBlock(n: DevnetNode, root: string): Promise<boolean> {
  const response = await fetch(`${n.rest}/eth/v1/beacon/headers/${root}`);
  return response.ok;
}

/** The peer ids node `n` is connected to (admin_peers). */
export async function peersOf(n: DevnetNode): Promise<string[]> {
  const peers = await rpc<{ id: string }[]>(n.rpc, "admin_peers");
  return [...new Set(peers.map((p) => p.id))];
}

/** The devnet's current slot by the wall clock. */
export function currentSlot(devnet: Devnet, slotSeconds: number): number {
  return Math.floor((Date.now() / 1000 - devnet.genesisTime) / slotSeconds);
}

/**
 * Polls every running node's finality checkpoints every `everyMs` until stopped, recording each
 * finalized (epoch, root) pair with the nodes that reported it, and each node's highest
 * finalized epoch.
 */
export class FinalityRecorder {
  /** epoch → root → nodes that reported it. */
  readonly seen = new Map<number, Map<string, Set<number>>>();
  /** Highest finalized epoch each node reported. */
  readonly highest = new Map<number, number>();
  samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly devnet: Devnet;
  private readonly everyMs: number;

  constructor(devnet: Devnet, everyMs = 1000) {
    this.devnet = devnet;
    this.everyMs = everyMs;
  }

  start(): void {
    const tick = async () => {
      await this.sample();
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.everyMs);
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async sample(): Promise<void> {
    await Promise.all(
      this.devnet.nodes
        .filter((n) => n.running)
        .map(async (n) => {
          const f = await finalityOf(n).catch(() => undefined);
          if (f === undefined) return;
          this.record(n.index, f.finalized.epoch, f.finalized.root);
        }),
    );
    this.samples++;
  }

  record(node: number, epoch: number, root: string): void {
    let roots = this.seen.get(epoch);
    if (roots === undefined) {
      roots = new Map();
      this.seen.set(epoch, roots);
    }
    let nodes = roots.get(root);
    if (nodes === undefined) {
      nodes = new Set();
      roots.set(root, nodes);
    }
    nodes.add(node);
    this.highest.set(node, Math.max(this.highest.get(node) ?? 0, epoch));
  }

  /** Epochs for which nodes reported different finalized roots, described. */
  conflicts(): string[] {
    const out: string[] = [];
    for (const [epoch, roots] of this.seen) {
      if (roots.size <= 1) continue;
      out.push(
        `epoch ${epoch}: ${[...roots].map(([root, nodes]) => `${root} (nodes ${[...nodes].join(",")})`).join(" vs ")}`,
      );
    }
    return out;
  }
}
