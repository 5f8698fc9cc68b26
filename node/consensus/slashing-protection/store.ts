/**
 * Slashing protection for the node's own validators (EIP-3076 semantics), in its own LevelDB
 * database directory.
 *
 * Every block and attestation a validator signs is first checked against, and then recorded in,
 * this database; the signature may be released only after `checkAndInsert*` resolved, which
 * happens after the record reached disk (LevelDB `sync` writes). Refused:
 * - a block at a slot that already has a block with another (or an unknown) signing root;
 * - a block at or below the validator's lowest block slot: the lowest one recorded, or the
 *   highest one imported (see below);
 * - an attestation whose target epoch already has an attestation with another signing root
 *   (double vote), that surrounds or is surrounded by a recorded one, whose source epoch is below
 *   the lowest recorded / highest imported source, or whose target is at or below the lowest
 *   recorded / highest imported target; and one whose source is after its target.
 * Signing exactly the same message again (same slot or target, same signing root) is allowed.
 *
 * The database is "complete" (every message is kept, so repeats are recognised and no honest
 * message is refused) with per-validator low watermarks. Importing an interchange file merges
 * its records and raises the watermarks to the file's highest slot / source / target: signing
 * anything at or below what another client signed is refused, which keeps gaps between imported
 * files safe (EIP-3076 "Advice for Complete Databases"). Conflicting imported records keep the
 * slot/target with an unknown signing root, so nothing can be signed there.
 *
 * Check-and-insert is atomic per pubkey: calls for one pubkey run one after another (a keyed
 * mutex), calls for different pubkeys run concurrently; imports lock every pubkey they touch and
 * write one batch. LevelDB's lock file keeps a second process out of the same directory.
 *
 * Key layout (all integers unsigned 64-bit big-endian, so keys sort numerically):
 *   0x00 name                          meta: schema version, genesis validators root
 *   0x01 pubkey(48) slot               block: signing root (32 bytes) or empty (unknown)
 *   0x02 pubkey(48) target source      attestation: signing root or empty (unknown)
 *   0x03 pubkey(48)                    validator state: lowest recorded values and watermarks (JSON)
 */
import { ClassicLevel } from "classic-level";
import { SlashingProtectionError, SlashingProtectionErrorCode } from "./errors.ts";
import {
  type Interchange,
  parseInterchange,
  renderInterchange,
  type SignedAttestation,
  type SignedBlock,
  toHex,
  type ValidatorHistory,
} from "./interchange.ts";

export interface BlockProposal {
  slot: number;
  /** compute_signing_root(block, domain), 32 bytes. */
  signingRoot: Uint8Array;
}

export interface AttestationVote {
  sourceEpoch: number;
  targetEpoch: number;
  /** compute_signing_root(attestation_data, domain), 32 bytes. */
  signingRoot: Uint8Array;
}

/** `new`: recorded now, safe to sign; `repeat`: the same message was signed before, safe to sign again. */
export type SigningCheck = "new" | "repeat";

export type InterchangeFormat = "complete" | "minimal";

export interface ImportSummary {
  validators: number;
  blocks: number;
  attestations: number;
}

export interface SlashingProtectionOptions {
  /**
   * The chain's genesis validators root: stored on first open, and opening a database kept for
   * another chain is refused.
   */
  genesisValidatorsRoot?: Uint8Array;
}

/** Per-validator bounds, stored as JSON under 0x03 pubkey. */
interface ValidatorState {
  minBlockSlot: number | null;
  minAttSource: number | null;
  minAttTarget: number | null;
  /** Raised by imports to the highest imported value. */
  blockSlotWatermark: number | null;
  attSourceWatermark: number | null;
  attTargetWatermark: number | null;
}

const SCHEMA_VERSION = 1;
const PREFIX_META = 0x00;
const PREFIX_BLOCK = 0x01;
const PREFIX_ATT = 0x02;
const PREFIX_STATE = 0x03;
const META_SCHEMA = "schema";
const META_GVR = "genesis_validators_root";
const PUBKEY_LENGTH = 48;
const ROOT_LENGTH = 32;
const EMPTY = new Uint8Array(0);
const U64_MAX = 0xffff_ffff_ffff_ffffn;

type Level = ClassicLevel<Uint8Array, Uint8Array>;
type Op = { type: "put"; key: Uint8Array; value: Uint8Array };

export class SlashingProtection {
  private readonly level: Level;
  private readonly locks = new KeyedMutex();
  private readonly states = new Map<string, ValidatorState>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;

  private constructor(level: Level) {
    this.level = level;
  }

  /** Opens (creating if needed) the database in `dir`. */
  static async open(dir: string, opts: SlashingProtectionOptions = {}): Promise<SlashingProtection> {
    const level: Level = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
      keyEncoding: "view",
      valueEncoding: "view",
    });
    try {
      await level.open();
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new SlashingProtectionError(
        SlashingProtectionErrorCode.OPEN_FAILED,
        `cannot open slashing-protection database at ${dir}: ${cause?.message ?? (err as Error).message}`,
        { dir },
        { cause: err },
      );
    }
    const store = new SlashingProtection(level);
    try {
      const schema = await level.get(metaKey(META_SCHEMA));
      if (schema === undefined) {
        await level.put(metaKey(META_SCHEMA), encodeU64(SCHEMA_VERSION), { sync: true });
      } else if (decodeU64(schema, 0) !== SCHEMA_VERSION) {
        throw new SlashingProtectionError(
          SlashingProtectionErrorCode.OPEN_FAILED,
          `slashing-protection database at ${dir} has schema version ${decodeU64(schema, 0)}, this node reads version ${SCHEMA_VERSION}`,
          { dir },
        );
      }
      if (opts.genesisValidatorsRoot !== undefined)
        await store.bindGenesisValidatorsRoot(opts.genesisValidatorsRoot);
    } catch (err) {
      await level.close();
      throw err;
    }
    return store;
  }

  /** The genesis validators root the database belongs to, once known. */
  async genesisValidatorsRoot(): Promise<Uint8Array | undefined> {
    this.assertOpen();
    return this.level.get(metaKey(META_GVR));
  }

  /**
   * Checks a block proposal and records it. Resolves when it is safe to sign (and the record is
   * on disk); rejects with a `SlashingProtectionError` when signing could be slashable.
   */
  async checkAndInsertBlockProposal(pubkey: Uint8Array, block: BlockProposal): Promise<SigningCheck> {
    assertBytes(pubkey, PUBKEY_LENGTH, "pubkey");
    assertBytes(block.signingRoot, ROOT_LENGTH, "signingRoot");
    assertInt(block.slot, "slot");
    return this.run([pubkey], async () => {
      const existing = await this.level.get(blockKey(pubkey, block.slot));
      if (existing !== undefined) {
        if (existing.length === ROOT_LENGTH && equal(existing, block.signingRoot)) return "repeat";
        throw refusal(
          SlashingProtectionErrorCode.DOUBLE_BLOCK_PROPOSAL,
          pubkey,
          `already signed a different block at slot ${block.slot}`,
          {
            slot: block.slot,
            existingSigningRoot: existing.length === ROOT_LENGTH ? toHex(existing) : null,
          },
        );
      }
      const state = await this.state(pubkey);
      const bound = maxOf(state.minBlockSlot, state.blockSlotWatermark);
      if (bound !== null && block.slot <= bound) {
        throw refusal(
          SlashingProtectionErrorCode.BLOCK_SLOT_TOO_LOW,
          pubkey,
          `block slot ${block.slot} is not above the lowest safe slot ${bound}`,
          { slot: block.slot, lowerBound: bound },
        );
      }
      const next = { ...state, minBlockSlot: minOf(state.minBlockSlot, block.slot) };
      await this.write(pubkey, next, [
        { type: "put", key: blockKey(pubkey, block.slot), value: block.signingRoot.slice() },
      ]);
      return "new";
    });
  }

  /**
   * Checks an attestation and records it. Resolves when it is safe to sign (and the record is
   * on disk); rejects with a `SlashingProtectionError` when signing could be slashable.
   */
  async checkAndInsertAttestation(pubkey: Uint8Array, att: AttestationVote): Promise<SigningCheck> {
    assertBytes(pubkey, PUBKEY_LENGTH, "pubkey");
    assertBytes(att.signingRoot, ROOT_LENGTH, "signingRoot");
    assertInt(att.sourceEpoch, "sourceEpoch");
    assertInt(att.targetEpoch, "targetEpoch");
    const { sourceEpoch: source, targetEpoch: target } = att;
    return this.run([pubkey], async () => {
      if (source > target) {
        throw refusal(
          SlashingProtectionErrorCode.SOURCE_AFTER_TARGET,
          pubkey,
          `source epoch ${source} is after target epoch ${target}`,
          {
            sourceEpoch: source,
            targetEpoch: target,
          },
        );
      }
      const sameTarget = await this.attestations(pubkey, target, target);
      if (sameTarget.length > 0) {
        const [prev] = sameTarget;
        if (
          sameTarget.length === 1 &&
          prev.sourceEpoch === source &&
          prev.signingRoot !== null &&
          equal(prev.signingRoot, att.signingRoot)
        ) {
          return "repeat";
        }
        throw refusal(
          SlashingProtectionErrorCode.DOUBLE_VOTE,
          pubkey,
          `already signed a different attestation for target epoch ${target}`,
          {
            sourceEpoch: source,
            targetEpoch: target,
            existing: sameTarget.map(describe),
          },
        );
      }
      const state = await this.state(pubkey);
      const sourceBound = maxOf(state.minAttSource, state.attSourceWatermark);
      if (sourceBound !== null && source < sourceBound) {
        throw refusal(
          SlashingProtectionErrorCode.SOURCE_EPOCH_TOO_LOW,
          pubkey,
          `source epoch ${source} is below the lowest safe source epoch ${sourceBound}`,
          { sourceEpoch: source, lowerBound: sourceBound },
        );
      }
      const targetBound = maxOf(state.minAttTarget, state.attTargetWatermark);
      if (targetBound !== null && target <= targetBound) {
        throw refusal(
          SlashingProtectionErrorCode.TARGET_EPOCH_TOO_LOW,
          pubkey,
          `target epoch ${target} is not above the lowest safe target epoch ${targetBound}`,
          { targetEpoch: target, lowerBound: targetBound },
        );
      }
      // The new vote surrounds a recorded one: source < s' and t' < target (so s' < t' < target).
      if (target - source > 1) {
        const inside = await this.attestations(pubkey, source + 1, target - 1);
        const surrounded = inside.find((a) => a.sourceEpoch > source);
        if (surrounded !== undefined) {
          throw refusal(
            SlashingProtectionErrorCode.SURROUNDING_VOTE,
            pubkey,
            `attestation ${source}->${target} surrounds the signed ${surrounded.sourceEpoch}->${surrounded.targetEpoch}`,
            { sourceEpoch: source, targetEpoch: target, existing: describe(surrounded) },
          );
        }
      }
      // A recorded vote surrounds the new one: s' < source and target < t'.
      const later = await this.attestations(pubkey, target + 1, Number.MAX_SAFE_INTEGER);
      const surrounding = later.find((a) => a.sourceEpoch < source);
      if (surrounding !== undefined) {
        throw refusal(
          SlashingProtectionErrorCode.SURROUNDED_VOTE,
          pubkey,
          `attestation ${source}->${target} is surrounded by the signed ${surrounding.sourceEpoch}->${surrounding.targetEpoch}`,
          { sourceEpoch: source, targetEpoch: target, existing: describe(surrounding) },
        );
      }
      const next = {
        ...state,
        minAttSource: minOf(state.minAttSource, source),
        minAttTarget: minOf(state.minAttTarget, target),
      };
      await this.write(pubkey, next, [
        { type: "put", key: attKey(pubkey, target, source), value: att.signingRoot.slice() },
      ]);
      return "new";
    });
  }

  /**
   * Imports an EIP-3076 (version 5) interchange document for the chain with the given genesis
   * validators root, atomically: the whole file or nothing. The file's root must equal the chain's,
   * and the database's when it already has one (it is stored otherwise). Import only while the
   * validators are stopped.
   */
  async importInterchange(json: string | unknown, genesisValidatorsRoot: Uint8Array): Promise<ImportSummary> {
    assertBytes(genesisValidatorsRoot, ROOT_LENGTH, "genesisValidatorsRoot");
    const parsed = parseInterchange(json);
    if (!equal(parsed.genesisValidatorsRoot, genesisValidatorsRoot)) {
      throw new SlashingProtectionError(
        SlashingProtectionErrorCode.GENESIS_VALIDATORS_ROOT_MISMATCH,
        `interchange is for genesis validators root ${toHex(parsed.genesisValidatorsRoot)}, this chain's is ${toHex(genesisValidatorsRoot)}`,
        { expected: toHex(genesisValidatorsRoot), actual: toHex(parsed.genesisValidatorsRoot) },
      );
    }
    const byPubkey = new Map<string, ValidatorHistory[]>();
    for (const record of parsed.records) {
      const key = toHex(record.pubkey);
      byPubkey.set(key, [...(byPubkey.get(key) ?? []), record]);
    }
    const pubkeys = [...byPubkey.values()].map((records) => records[0].pubkey);
    return this.run(pubkeys, async () => {
      await this.checkGenesisValidatorsRoot(genesisValidatorsRoot);
      const ops: Op[] = [];
      const states = new Map<string, ValidatorState>();
      const summary: ImportSummary = { validators: byPubkey.size, blocks: 0, attestations: 0 };
      for (const records of byPubkey.values()) {
        const pubkey = records[0].pubkey;
        const state = { ...(await this.state(pubkey)) };
        const values = new Map<
          string,
          { key: Uint8Array; value: Uint8Array | undefined; changed: boolean }
        >();
        const merge = async (key: Uint8Array, root: Uint8Array | null): Promise<void> => {
          const id = Buffer.from(key).toString("hex");
          let entry = values.get(id);
          if (entry === undefined) {
            entry = { key, value: await this.level.get(key), changed: false };
            values.set(id, entry);
          }
          const incoming = root === null ? EMPTY : root;
          if (entry.value === undefined) {
            entry.value = incoming.slice();
            entry.changed = true;
          } else if (!equal(entry.value, incoming) && entry.value.length !== 0) {
            // Two different messages for one slot / vote: keep it with an unknown root.
            entry.value = EMPTY;
            entry.changed = true;
          }
        };
        for (const record of records) {
          for (const b of record.signedBlocks) {
            await merge(blockKey(pubkey, b.slot), b.signingRoot);
            state.minBlockSlot = minOf(state.minBlockSlot, b.slot);
            state.blockSlotWatermark = maxOf(state.blockSlotWatermark, b.slot);
            summary.blocks++;
          }
          for (const a of record.signedAttestations) {
            await merge(attKey(pubkey, a.targetEpoch, a.sourceEpoch), a.signingRoot);
            state.minAttSource = minOf(state.minAttSource, a.sourceEpoch);
            state.minAttTarget = minOf(state.minAttTarget, a.targetEpoch);
            state.attSourceWatermark = maxOf(state.attSourceWatermark, a.sourceEpoch);
            state.attTargetWatermark = maxOf(state.attTargetWatermark, a.targetEpoch);
            summary.attestations++;
          }
        }
        for (const entry of values.values()) {
          if (entry.changed && entry.value !== undefined)
            ops.push({ type: "put", key: entry.key, value: entry.value });
        }
        ops.push({ type: "put", key: stateKey(pubkey), value: encodeState(state) });
        states.set(cacheKey(pubkey), state);
      }
      if ((await this.level.get(metaKey(META_GVR))) === undefined) {
        ops.push({ type: "put", key: metaKey(META_GVR), value: genesisValidatorsRoot.slice() });
      }
      await this.level.batch(ops, { sync: true });
      for (const [key, state] of states) this.states.set(key, state);
      return summary;
    });
  }

  /**
   * Exports the signing history as an EIP-3076 (version 5) document: `complete` (default) lists
   * every recorded message; `minimal` one block (the highest slot) and one attestation (the
   * highest source and target, with the signing root only if that exact vote was recorded) per
   * validator, which another client's slashing protection treats as a low watermark. `pubkeys`
   * limits the export (a listed pubkey without history gets empty lists). Export only while the
   * validators are stopped.
   */
  async exportInterchange(
    pubkeys: readonly Uint8Array[] | undefined,
    genesisValidatorsRoot: Uint8Array,
    opts: { format?: InterchangeFormat } = {},
  ): Promise<Interchange> {
    assertBytes(genesisValidatorsRoot, ROOT_LENGTH, "genesisValidatorsRoot");
    for (const pubkey of pubkeys ?? []) assertBytes(pubkey, PUBKEY_LENGTH, "pubkey");
    const selected = pubkeys ?? (await this.listPubkeys());
    return this.run(selected, async () => {
      await this.checkGenesisValidatorsRoot(genesisValidatorsRoot);
      const histories: ValidatorHistory[] = [];
      for (const pubkey of selected) {
        const signedBlocks = await this.blocks(pubkey);
        const signedAttestations = await this.attestations(pubkey, 0, Number.MAX_SAFE_INTEGER);
        if (opts.format === "minimal") {
          histories.push({
            pubkey,
            ...minimalHistory(await this.state(pubkey), signedBlocks, signedAttestations),
          });
        } else {
          histories.push({ pubkey, signedBlocks, signedAttestations });
        }
      }
      return renderInterchange(genesisValidatorsRoot, histories);
    });
  }

  /** Every pubkey with recorded history, in byte order. */
  async listPubkeys(): Promise<Uint8Array[]> {
    this.assertOpen();
    const out: Uint8Array[] = [];
    for await (const key of this.level.keys({
      gte: Uint8Array.of(PREFIX_STATE),
      lt: Uint8Array.of(PREFIX_STATE + 1),
    })) {
      out.push(key.slice(1));
    }
    return out;
  }

  /** Waits for running checks and closes the database; later calls throw `CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    await this.level.close();
  }

  // --- internals ----------------------------------------------------------------------------

  /** Runs `fn` holding the locks of `pubkeys`, tracked so `close` waits for it. */
  private run<T>(pubkeys: readonly Uint8Array[], fn: () => Promise<T>): Promise<T> {
    this.assertOpen();
    const keys = [...new Set(pubkeys.map(cacheKey))].sort();
    const task = (async () => {
      const release = await this.locks.acquireAll(keys);
      try {
        this.assertOpen(true);
        return await fn();
      } finally {
        release();
      }
    })();
    this.inflight.add(task);
    const forget = () => this.inflight.delete(task);
    task.then(forget, forget);
    return task;
  }

  private assertOpen(draining = false): void {
    if (this.closed && !draining) {
      throw new SlashingProtectionError(
        SlashingProtectionErrorCode.CLOSED,
        "slashing-protection database is closed",
      );
    }
    if (this.level.status !== "open") {
      throw new SlashingProtectionError(
        SlashingProtectionErrorCode.CLOSED,
        "slashing-protection database is closed",
      );
    }
  }

  private async bindGenesisValidatorsRoot(root: Uint8Array): Promise<void> {
    assertBytes(root, ROOT_LENGTH, "genesisValidatorsRoot");
    const stored = await this.level.get(metaKey(META_GVR));
    if (stored === undefined) await this.level.put(metaKey(META_GVR), root.slice(), { sync: true });
    else await this.checkGenesisValidatorsRoot(root);
  }

  private async checkGenesisValidatorsRoot(root: Uint8Array): Promise<void> {
    const stored = await this.level.get(metaKey(META_GVR));
    if (stored !== undefined && !equal(stored, root)) {
      throw new SlashingProtectionError(
        SlashingProtectionErrorCode.GENESIS_VALIDATORS_ROOT_MISMATCH,
        `slashing-protection database belongs to genesis validators root ${toHex(stored)}, not ${toHex(root)}`,
        { expected: toHex(stored), actual: toHex(root) },
      );
    }
  }

  private async state(pubkey: Uint8Array): Promise<ValidatorState> {
    const cached = this.states.get(cacheKey(pubkey));
    if (cached !== undefined) return cached;
    const raw = await this.level.get(stateKey(pubkey));
    const state = raw === undefined ? emptyState() : decodeState(raw);
    this.states.set(cacheKey(pubkey), state);
    return state;
  }

  /** Writes a record and the validator's new state in one synced batch, then caches the state. */
  private async write(pubkey: Uint8Array, state: ValidatorState, ops: Op[]): Promise<void> {
    await this.level.batch([...ops, { type: "put", key: stateKey(pubkey), value: encodeState(state) }], {
      sync: true,
    });
    this.states.set(cacheKey(pubkey), state);
  }

  private async blocks(pubkey: Uint8Array): Promise<SignedBlock[]> {
    const out: SignedBlock[] = [];
    const prefix = concat(Uint8Array.of(PREFIX_BLOCK), pubkey);
    for await (const [key, value] of this.level.iterator({ gte: prefix, lt: increment(prefix) })) {
      out.push({
        slot: decodeU64(key, 1 + PUBKEY_LENGTH),
        signingRoot: value.length === ROOT_LENGTH ? value : null,
      });
    }
    return out;
  }

  /** Recorded attestations with fromTarget <= target <= toTarget, by target then source. */
  private async attestations(
    pubkey: Uint8Array,
    fromTarget: number,
    toTarget: number,
  ): Promise<SignedAttestation[]> {
    const out: SignedAttestation[] = [];
    if (fromTarget > toTarget) return out;
    const gte = attKey(pubkey, fromTarget, 0);
    const lte = concat(attKey(pubkey, toTarget, 0).subarray(0, 1 + PUBKEY_LENGTH + 8), u64(U64_MAX));
    for await (const [key, value] of this.level.iterator({ gte, lte })) {
      out.push({
        targetEpoch: decodeU64(key, 1 + PUBKEY_LENGTH),
        sourceEpoch: decodeU64(key, 1 + PUBKEY_LENGTH + 8),
        signingRoot: value.length === ROOT_LENGTH ? value : null,
      });
    }
    return out;
  }
}

/** The minimal form of a validator's history: its highest block and a max-source/max-target vote. */
function minimalHistory(
  state: ValidatorState,
  blocks: SignedBlock[],
  attestations: SignedAttestation[],
): { signedBlocks: SignedBlock[]; signedAttestations: SignedAttestation[] } {
  const signedBlocks = blocks.length > 0 ? [blocks[blocks.length - 1]] : [];
  if (attestations.length === 0) return { signedBlocks, signedAttestations: [] };
  let source = state.attSourceWatermark ?? 0;
  let target = state.attTargetWatermark ?? 0;
  for (const a of attestations) {
    source = Math.max(source, a.sourceEpoch);
    target = Math.max(target, a.targetEpoch);
  }
  const exact = attestations.find((a) => a.sourceEpoch === source && a.targetEpoch === target);
  return {
    signedBlocks,
    signedAttestations: [
      { sourceEpoch: source, targetEpoch: target, signingRoot: exact?.signingRoot ?? null },
    ],
  };
}

/** One async mutex per key; `acquireAll` takes several in sorted order (no deadlocks). */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async acquireAll(keys: readonly string[]): Promise<() => void> {
    const releases: (() => void)[] = [];
    for (const key of keys) releases.push(await this.acquire(key));
    return () => {
      for (const release of releases.reverse()) release();
    };
  }

  private async acquire(key: string): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => held);
    this.tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}

function refusal(
  code: SlashingProtectionErrorCode,
  pubkey: Uint8Array,
  why: string,
  meta: Record<string, unknown>,
): SlashingProtectionError {
  const hex = toHex(pubkey);
  return new SlashingProtectionError(code, `refusing to sign for ${hex}: ${why}`, { pubkey: hex, ...meta });
}

function describe(a: SignedAttestation): Record<string, unknown> {
  return {
    sourceEpoch: a.sourceEpoch,
    targetEpoch: a.targetEpoch,
    signingRoot: a.signingRoot === null ? null : toHex(a.signingRoot),
  };
}

/** Key of a pubkey in the lock table and the state cache. */
function cacheKey(pubkey: Uint8Array): string {
  return Buffer.from(pubkey).toString("hex");
}

function emptyState(): ValidatorState {
  return {
    minBlockSlot: null,
    minAttSource: null,
    minAttTarget: null,
    blockSlotWatermark: null,
    attSourceWatermark: null,
    attTargetWatermark: null,
  };
}

function encodeState(state: ValidatorState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(state));
}

function decodeState(raw: Uint8Array): ValidatorState {
  return { ...emptyState(), ...(JSON.parse(new TextDecoder().decode(raw)) as Partial<ValidatorState>) };
}

function minOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

function metaKey(name: string): Uint8Array {
  return concat(Uint8Array.of(PREFIX_META), new TextEncoder().encode(name));
}

function blockKey(pubkey: Uint8Array, slot: number): Uint8Array {
  return concat(Uint8Array.of(PREFIX_BLOCK), pubkey, encodeU64(slot));
}

function attKey(pubkey: Uint8Array, target: number, source: number): Uint8Array {
  return concat(Uint8Array.of(PREFIX_ATT), pubkey, encodeU64(target), encodeU64(source));
}

function stateKey(pubkey: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(PREFIX_STATE), pubkey);
}

function encodeU64(n: number): Uint8Array {
  return u64(BigInt(n));
}

function u64(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}

function decodeU64(bytes: Uint8Array, offset: number): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset + offset, 8).getBigUint64(0));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The smallest key greater than every key starting with `prefix` (prefix bytes are never all 0xff here). */
function increment(prefix: Uint8Array): Uint8Array {
  const out = prefix.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) {
      out[i]++;
      return out.subarray(0, i + 1);
    }
  }
  return concat(prefix, Uint8Array.of(0));
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function assertBytes(value: Uint8Array, length: number, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new SlashingProtectionError(
      SlashingProtectionErrorCode.INVALID_INPUT,
      `${what} must be ${length} bytes`,
    );
  }
}

function assertInt(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new SlashingProtectionError(
      SlashingProtectionErrorCode.INVALID_INPUT,
      `${what} must be a non-negative integer`,
    );
  }
}
