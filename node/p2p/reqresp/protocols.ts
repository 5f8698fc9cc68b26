/**
 * The req/resp protocols this node speaks: their libp2p protocol ids, SSZ request and response
 * types, size bounds, context bytes and chunk counts.
 *
 * Ethereum's (`/eth2/beacon_chain/req/<name>/<version>/ssz_snappy`): status/1, goodbye/1, ping/1,
 * metadata/2 (altair MetaData), beacon_blocks_by_range/2 and beacon_blocks_by_root/2 (Electra
 * blocks with fork-digest context bytes, at most MAX_REQUEST_BLOCKS_DENEB per request).
 *
 * OpenGPU's content-addressed blobs for the compute layer (`/opengpu/req/blob/1/ssz_snappy`):
 *   request  BlobRequest { hash: Bytes32, offset: uint64, length: uint64 }   (length 0: to the end)
 *   response BlobChunk   { totalSize: uint64, offset: uint64, data: ByteList[1 MiB] } per chunk,
 *            contiguous from the requested offset, at least one (an empty range gives one empty
 *            chunk, so the requester always learns the blob's size); missing blob: code 3.
 * A full fetch (offset 0, length 0) is checked against the sha256 by the requester; ranges let
 * a requester resume or spread a download and check the assembled blob itself.
 */
import { ByteListType, ContainerType, ListCompositeType } from "@chainsafe/ssz";
import { chainConfig } from "@lodestar/config/default";
import { ssz } from "@lodestar/types";
import { MAX_PAYLOAD_SIZE, type SszBounds, sszBounds } from "../encoding/ssz-snappy.ts";

/** Most blocks one blocks-by-range or blocks-by-root request may ask for (128). */
export const MAX_REQUEST_BLOCKS_DENEB = chainConfig.MAX_REQUEST_BLOCKS_DENEB;
/** Most blob bytes in one response chunk. */
export const MAX_BLOB_CHUNK_BYTES = 1024 * 1024;

export const BeaconBlocksByRootRequest = new ListCompositeType(ssz.Root, MAX_REQUEST_BLOCKS_DENEB);

export const BlobRequest = new ContainerType(
  { hash: ssz.Bytes32, offset: ssz.UintNum64, length: ssz.UintNum64 },
  { typeName: "BlobRequest" },
);
export type BlobRequest = ReturnType<typeof BlobRequest.defaultValue>;

export const BlobChunk = new ContainerType(
  { totalSize: ssz.UintNum64, offset: ssz.UintNum64, data: new ByteListType(MAX_BLOB_CHUNK_BYTES) },
  { typeName: "BlobChunk" },
);
export type BlobChunk = ReturnType<typeof BlobChunk.defaultValue>;

export type ProtocolKey =
  | "status"
  | "goodbye"
  | "ping"
  | "metadata"
  | "beaconBlocksByRange"
  | "beaconBlocksByRoot"
  | "blob";

export interface ProtocolDef {
  key: ProtocolKey;
  /** The libp2p protocol id. */
  id: string;
  /** Short name for logs and metrics, `<name>/<version>`. */
  label: string;
  /** Bounds of the request payload; undefined: the request has no content. */
  request: SszBounds | undefined;
  /** Bounds of each success chunk's payload. */
  response: SszBounds;
  /** Context bytes before each success chunk's payload (4: fork digest). */
  contextBytes: 0 | 4;
  /** Whether the response is a single chunk (else zero or more). */
  single: boolean;
}

const ETH = "/eth2/beacon_chain/req";

function def(
  key: ProtocolKey,
  prefix: string,
  name: string,
  version: number,
  request: SszBounds | undefined,
  response: SszBounds,
  contextBytes: 0 | 4,
  single: boolean,
): ProtocolDef {
  return {
    key,
    id: `${prefix}/${name}/${version}/ssz_snappy`,
    label: `${name}/${version}`,
    request,
    response,
    contextBytes,
    single,
  };
}

export const PROTOCOLS: Readonly<Record<ProtocolKey, ProtocolDef>> = {
  status: def(
    "status",
    ETH,
    "status",
    1,
    sszBounds(ssz.phase0.Status),
    sszBounds(ssz.phase0.Status),
    0,
    true,
  ),
  goodbye: def(
    "goodbye",
    ETH,
    "goodbye",
    1,
    sszBounds(ssz.phase0.Goodbye),
    sszBounds(ssz.phase0.Goodbye),
    0,
    true,
  ),
  ping: def("ping", ETH, "ping", 1, sszBounds(ssz.phase0.Ping), sszBounds(ssz.phase0.Ping), 0, true),
  metadata: def("metadata", ETH, "metadata", 2, undefined, sszBounds(ssz.altair.Metadata), 0, true),
  beaconBlocksByRange: def(
    "beaconBlocksByRange",
    ETH,
    "beacon_blocks_by_range",
    2,
    sszBounds(ssz.phase0.BeaconBlocksByRangeRequest),
    sszBounds(ssz.electra.SignedBeaconBlock, MAX_PAYLOAD_SIZE),
    4,
    false,
  ),
  beaconBlocksByRoot: def(
    "beaconBlocksByRoot",
    ETH,
    "beacon_blocks_by_root",
    2,
    sszBounds(BeaconBlocksByRootRequest),
    sszBounds(ssz.electra.SignedBeaconBlock, MAX_PAYLOAD_SIZE),
    4,
    false,
  ),
  blob: def("blob", "/opengpu/req", "blob", 1, sszBounds(BlobRequest), sszBounds(BlobChunk), 0, false),
};
