/**
 * The Engine API as a TypeScript interface (execution-apis, Paris..Prague), in its JSON wire
 * types. The consensus layer drives the execution layer only through `ExecutionEngine`: the
 * in-process implementation calls the chain directly; the HTTP client speaks JSON-RPC with a
 * JWT to a separate EL. Both are interchangeable.
 */

export type Hex = `0x${string}`;

export interface WithdrawalV1 {
  index: Hex;
  validatorIndex: Hex;
  address: Hex;
  amount: Hex;
}

export interface ExecutionPayloadV1 {
  parentHash: Hex;
  feeRecipient: Hex;
  stateRoot: Hex;
  receiptsRoot: Hex;
  logsBloom: Hex;
  prevRandao: Hex;
  blockNumber: Hex;
  gasLimit: Hex;
  gasUsed: Hex;
  timestamp: Hex;
  extraData: Hex;
  baseFeePerGas: Hex;
  blockHash: Hex;
  transactions: Hex[];
}

export interface ExecutionPayloadV2 extends ExecutionPayloadV1 {
  withdrawals: WithdrawalV1[];
}

export interface ExecutionPayloadV3 extends ExecutionPayloadV2 {
  blobGasUsed: Hex;
  excessBlobGas: Hex;
}

export interface ForkchoiceStateV1 {
  headBlockHash: Hex;
  safeBlockHash: Hex;
  finalizedBlockHash: Hex;
}

export interface PayloadAttributesV3 {
  timestamp: Hex;
  prevRandao: Hex;
  suggestedFeeRecipient: Hex;
  withdrawals: WithdrawalV1[];
  parentBeaconBlockRoot: Hex;
}

export type PayloadStatus = "VALID" | "INVALID" | "SYNCING" | "ACCEPTED" | "INVALID_BLOCK_HASH";

export interface PayloadStatusV1 {
  status: PayloadStatus;
  latestValidHash: Hex | null;
  validationError: string | null;
}

export interface ForkchoiceUpdatedResponse {
  payloadStatus: PayloadStatusV1;
  payloadId: Hex | null;
}

export interface BlobsBundleV1 {
  commitments: Hex[];
  proofs: Hex[];
  blobs: Hex[];
}

export interface GetPayloadV3Response {
  executionPayload: ExecutionPayloadV3;
  blockValue: Hex;
  blobsBundle: BlobsBundleV1;
  shouldOverrideBuilder: boolean;
}

export interface GetPayloadV4Response extends GetPayloadV3Response {
  executionRequests: Hex[];
}

export interface ClientVersionV1 {
  code: string;
  name: string;
  version: string;
  commit: Hex;
}

export interface ExecutionEngine {
  exchangeCapabilities(methods: string[]): Promise<string[]>;
  getClientVersionV1(client: ClientVersionV1): Promise<ClientVersionV1[]>;
  newPayloadV3(
    payload: ExecutionPayloadV3,
    versionedHashes: Hex[],
    parentBeaconBlockRoot: Hex,
  ): Promise<PayloadStatusV1>;
  newPayloadV4(
    payload: ExecutionPayloadV3,
    versionedHashes: Hex[],
    parentBeaconBlockRoot: Hex,
    executionRequests: Hex[],
  ): Promise<PayloadStatusV1>;
  forkchoiceUpdatedV3(
    state: ForkchoiceStateV1,
    attributes: PayloadAttributesV3 | null,
  ): Promise<ForkchoiceUpdatedResponse>;
  getPayloadV3(payloadId: Hex): Promise<GetPayloadV3Response>;
  getPayloadV4(payloadId: Hex): Promise<GetPayloadV4Response>;
}

/** Engine API error codes (execution-apis common definitions). */
export const EngineErrorCode = {
  INVALID_PARAMS: -32602,
  UNKNOWN_PAYLOAD: -38001,
  INVALID_FORKCHOICE_STATE: -38002,
  INVALID_PAYLOAD_ATTRIBUTES: -38003,
  TOO_LARGE_REQUEST: -38004,
  UNSUPPORTED_FORK: -38005,
} as const;

export class EngineError extends Error {
  override name = "EngineError";
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** Methods this engine serves (engine_exchangeCapabilities). */
export const ENGINE_CAPABILITIES = [
  "engine_exchangeCapabilities",
  "engine_getClientVersionV1",
  "engine_newPayloadV3",
  "engine_newPayloadV4",
  "engine_forkchoiceUpdatedV3",
  "engine_getPayloadV3",
  "engine_getPayloadV4",
] as const;
