/**
 * LevelDB storage of the beacon chain (`DIR/beacondata`, separate from the EL's database).
 *
 *   'b' root(32)              -> SignedBeaconBlock (SSZ, Electra)
 *   'c' slot(8)               -> finalized canonical block root at slot
 *   'S' epoch(8) root(32)     -> checkpoint state (SSZ BeaconState) for checkpoint (epoch, root)
 *   'm' name                  -> metadata: genesis state/block roots, consensus spec, anchor
 *
 * Blocks are written as they are imported; checkpoint states at epoch boundaries; the anchor
 * (the latest finalized checkpoint whose state is stored) moves on finalization, after which
 * states older than it are deleted (all but the genesis state). A restart loads the anchor state
 * and replays the stored blocks that descend from it.
 */

import type { electra } from "@lodestar/types";
import { ssz } from "@lodestar/types";
import { ClassicLevel } from "classic-level";
import { OpenGpuError } from "../../utils/errors.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

function key(prefix: string, ...parts: Uint8Array[]): Uint8Array {
  const length = 1 + parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(length);
  out[0] = prefix.charCodeAt(0);
  let offset = 1;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export const BeaconMeta = {
  spec: "spec",
  genesisStateRoot: "genesisStateRoot",
  genesisBlockRoot: "genesisBlockRoot",
  genesisValidatorsRoot: "genesisValidatorsRoot",
  elGenesisHash: "elGenesisHash",
  /** JSON {epoch, root} of the stored checkpoint state a restart begins from. */
  anchor: "anchor",
} as const;

export class BeaconDbError extends OpenGpuError<"BEACON_DB_OPEN_FAILED"> {
  override name = "BeaconDbError";
}

export class BeaconDB {
  readonly level: ClassicLevel<Uint8Array, Uint8Array>;

  private constructor(level: ClassicLevel<Uint8Array, Uint8Array>) {
    this.level = level;
  }

  static async open(path: string): Promise<BeaconDB> {
    const level = new ClassicLevel<Uint8Array, Uint8Array>(path, {
      keyEncoding: "view",
      valueEncoding: "view",
    });
    try {
      await level.open();
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new BeaconDbError(
        "BEACON_DB_OPEN_FAILED",
        `cannot open beacon database at ${path}: ${cause?.message ?? (err as Error).message}`,
      );
    }
    return new BeaconDB(level);
  }

  async close(): Promise<void> {
    await this.level.close();
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.level.getSync(key("m", enc.encode(name)));
  }

  getMetaJson<T>(name: string): T | undefined {
    const raw = this.getMeta(name);
    return raw === undefined ? undefined : (JSON.parse(dec.decode(raw)) as T);
  }

  async putMeta(name: string, value: Uint8Array | object): Promise<void> {
    const bytes = value instanceof Uint8Array ? value : enc.encode(JSON.stringify(value));
    await this.level.put(key("m", enc.encode(name)), bytes);
  }

  getBlock(root: Uint8Array): electra.SignedBeaconBlock | undefined {
    const raw = this.level.getSync(key("b", root));
    return raw === undefined ? undefined : ssz.electra.SignedBeaconBlock.deserialize(raw);
  }

  getBlockBytes(root: Uint8Array): Uint8Array | undefined {
    return this.level.getSync(key("b", root));
  }

  async putBlock(root: Uint8Array, block: electra.SignedBeaconBlock): Promise<void> {
    await this.level.put(key("b", root), ssz.electra.SignedBeaconBlock.serialize(block));
  }

  async deleteBlocks(roots: Iterable<Uint8Array>): Promise<void> {
    const batch = this.level.batch();
    for (const root of roots) batch.del(key("b", root));
    await batch.write();
  }

  /** All stored blocks (for replay on start), unordered. */
  async *blocks(): AsyncGenerator<{ root: Uint8Array; block: electra.SignedBeaconBlock }> {
    for await (const [k, v] of this.level.iterator({ gte: key("b"), lt: key("c") })) {
      yield { root: k.slice(1), block: ssz.electra.SignedBeaconBlock.deserialize(v) };
    }
  }

  getCanonicalRoot(slot: number): Uint8Array | undefined {
    return this.level.getSync(key("c", u64(slot)));
  }

  async putCanonicalRoots(entries: Iterable<{ slot: number; root: Uint8Array }>): Promise<void> {
    const batch = this.level.batch();
    for (const { slot, root } of entries) batch.put(key("c", u64(slot)), root);
    await batch.write();
  }

  getStateBytes(epoch: number, root: Uint8Array): Uint8Array | undefined {
    return this.level.getSync(key("S", u64(epoch), root));
  }

  async putState(epoch: number, root: Uint8Array, bytes: Uint8Array): Promise<void> {
    await this.level.put(key("S", u64(epoch), root), bytes);
  }

  /**
   * Deletes checkpoint states of epochs below `epoch`, except the genesis state (epoch 0), which
   * is kept for good: the Beacon API serves it (state id `genesis`) and no block replays to it.
   */
  async pruneStates(epoch: number): Promise<number> {
    const batch = this.level.batch();
    let n = 0;
    for await (const k of this.level.keys({ gte: key("S", u64(1)), lt: key("S", u64(epoch)) })) {
      batch.del(k);
      n++;
    }
    await batch.write();
    return n;
  }
}
