/**
 * EIP-3076 slashing-protection interchange format, version 5: the JSON types, strict parsing into
 * typed records (quoted decimal integers, 0x-hex pubkeys and roots) and rendering records back
 * to JSON. Knows nothing about storage; `store.ts` imports and exports through it.
 */
import { SlashingProtectionError, SlashingProtectionErrorCode } from "./errors.ts";

export const INTERCHANGE_FORMAT_VERSION = "5";

export interface InterchangeBlock {
  /** Decimal slot, quoted. */
  slot: string;
  /** 0x-hex compute_signing_root(block, domain); absent when unknown. */
  signing_root?: string;
}

export interface InterchangeAttestation {
  source_epoch: string;
  target_epoch: string;
  signing_root?: string;
}

export interface InterchangeRecord {
  /** 0x-hex 48-byte BLS public key. */
  pubkey: string;
  signed_blocks: InterchangeBlock[];
  signed_attestations: InterchangeAttestation[];
}

export interface Interchange {
  metadata: {
    interchange_format_version: string;
    /** 0x-hex 32-byte genesis validators root of the chain the history belongs to. */
    genesis_validators_root: string;
  };
  data: InterchangeRecord[];
}

/** A signed block as held in memory: `signingRoot` null when the interchange had none. */
export interface SignedBlock {
  slot: number;
  signingRoot: Uint8Array | null;
}

export interface SignedAttestation {
  sourceEpoch: number;
  targetEpoch: number;
  signingRoot: Uint8Array | null;
}

export interface ValidatorHistory {
  pubkey: Uint8Array;
  signedBlocks: SignedBlock[];
  signedAttestations: SignedAttestation[];
}

export interface ParsedInterchange {
  genesisValidatorsRoot: Uint8Array;
  /** One entry per record of `data`, in file order (a pubkey may appear more than once). */
  records: ValidatorHistory[];
}

/**
 * Parses an interchange document (JSON text or a parsed object). Throws
 * `UNSUPPORTED_INTERCHANGE_VERSION` for a version other than "5" and `INVALID_INTERCHANGE`
 * (naming the offending field) for anything else that is not EIP-3076. Integers above 2^53-1
 * are refused: no slot or epoch of a live chain comes near them.
 */
export function parseInterchange(input: string | unknown): ParsedInterchange {
  let doc: unknown = input;
  if (typeof input === "string") {
    try {
      doc = JSON.parse(input);
    } catch (err) {
      throw invalid("document", `is not JSON (${(err as Error).message})`);
    }
  }
  const root = object(doc, "document");
  const metadata = object(root.metadata, "metadata");
  const version = metadata.interchange_format_version;
  if (version !== INTERCHANGE_FORMAT_VERSION) {
    throw new SlashingProtectionError(
      SlashingProtectionErrorCode.UNSUPPORTED_INTERCHANGE_VERSION,
      `interchange format version ${JSON.stringify(version)} is not supported (only "5", EIP-3076)`,
    );
  }
  const genesisValidatorsRoot = hexBytes(
    metadata.genesis_validators_root,
    32,
    "metadata.genesis_validators_root",
  );
  const data = array(root.data, "data");
  const records = data.map((item, i): ValidatorHistory => {
    const at = `data[${i}]`;
    const record = object(item, at);
    const blocks = array(record.signed_blocks, `${at}.signed_blocks`);
    const attestations = array(record.signed_attestations, `${at}.signed_attestations`);
    return {
      pubkey: hexBytes(record.pubkey, 48, `${at}.pubkey`),
      signedBlocks: blocks.map((b, j) => {
        const where = `${at}.signed_blocks[${j}]`;
        const block = object(b, where);
        return {
          slot: quotedInt(block.slot, `${where}.slot`),
          signingRoot: optionalRoot(block.signing_root, where),
        };
      }),
      signedAttestations: attestations.map((a, j) => {
        const where = `${at}.signed_attestations[${j}]`;
        const att = object(a, where);
        return {
          sourceEpoch: quotedInt(att.source_epoch, `${where}.source_epoch`),
          targetEpoch: quotedInt(att.target_epoch, `${where}.target_epoch`),
          signingRoot: optionalRoot(att.signing_root, where),
        };
      }),
    };
  });
  return { genesisValidatorsRoot, records };
}

/** Renders histories as an interchange document. */
export function renderInterchange(
  genesisValidatorsRoot: Uint8Array,
  histories: readonly ValidatorHistory[],
): Interchange {
  return {
    metadata: {
      interchange_format_version: INTERCHANGE_FORMAT_VERSION,
      genesis_validators_root: toHex(genesisValidatorsRoot),
    },
    data: histories.map((h) => ({
      pubkey: toHex(h.pubkey),
      signed_blocks: h.signedBlocks.map((b) => ({
        slot: String(b.slot),
        ...(b.signingRoot !== null ? { signing_root: toHex(b.signingRoot) } : {}),
      })),
      signed_attestations: h.signedAttestations.map((a) => ({
        source_epoch: String(a.sourceEpoch),
        target_epoch: String(a.targetEpoch),
        ...(a.signingRoot !== null ? { signing_root: toHex(a.signingRoot) } : {}),
      })),
    })),
  };
}

export function toHex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

function object(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw invalid(at, "must be an object");
  return value as Record<string, unknown>;
}

function array(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(at, "must be an array");
  return value;
}

function quotedInt(value: unknown, at: string): number {
  if (typeof value !== "string" || !/^\d{1,20}$/.test(value))
    throw invalid(at, "must be a quoted decimal integer");
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw invalid(at, `${value} is above 2^53-1`);
  return n;
}

function hexBytes(value: unknown, length: number, at: string): Uint8Array {
  if (typeof value !== "string" || !new RegExp(`^0x[0-9a-fA-F]{${length * 2}}$`).test(value)) {
    throw invalid(at, `must be 0x-prefixed hex of ${length} bytes`);
  }
  return new Uint8Array(Buffer.from(value.slice(2), "hex"));
}

function optionalRoot(value: unknown, at: string): Uint8Array | null {
  if (value === undefined || value === null) return null;
  return hexBytes(value, 32, `${at}.signing_root`);
}

function invalid(at: string, why: string): SlashingProtectionError {
  return new SlashingProtectionError(
    SlashingProtectionErrorCode.INVALID_INTERCHANGE,
    `invalid slashing-protection interchange: ${at} ${why}`,
    { at },
  );
}
