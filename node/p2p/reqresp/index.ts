/** Req/resp: Ethereum's consensus protocols and OpenGPU's blob protocol over libp2p streams. */
export {
  type BlobStore,
  BlobStoreError,
  BlobStoreErrorCode,
  FileBlobStore,
  hashHex,
  MemoryBlobStore,
  sha256,
} from "./blob-store.ts";
export { ReqRespError, ReqRespErrorCode, ResponseCode } from "./errors.ts";
export {
  BeaconBlocksByRootRequest,
  BlobChunk,
  BlobRequest,
  MAX_BLOB_CHUNK_BYTES,
  MAX_REQUEST_BLOCKS_DENEB,
  PROTOCOLS,
  type ProtocolDef,
  type ProtocolKey,
} from "./protocols.ts";
export {
  type ConsensusProviderOptions,
  consensusReqRespProvider,
  epochAtSlot,
  type ReqRespProvider,
  type ServedBlock,
  servedBlock,
  slotOfBlockBytes,
} from "./provider.ts";
export {
  DEFAULT_RATE_LIMITS,
  type ProtocolRateLimit,
  type RateLimit,
  RateLimiter,
  TokenBucket,
} from "./rate-limit.ts";
export {
  DEFAULT_REQRESP_OPTIONS,
  type PeerRef,
  ReqResp,
  type ReqRespEvents,
  type ReqRespModules,
  type ReqRespOptions,
} from "./reqresp.ts";
