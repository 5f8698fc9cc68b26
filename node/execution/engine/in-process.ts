/**
 * The execution layer's Engine API implementation, called in process by our consensus layer
 * (or by the dev block producer) and served over authenticated HTTP for an external one.
 *
 * Semantics follow execution-apis: newPayload validates and stores a block (VALID / INVALID /
 * SYNCING when the parent is unknown); forkchoiceUpdated makes a known block canonical, moves
 * safe/finalized, and with payload attributes starts building a payload on the new head;
 * getPayload returns it once built. Payloads we built are imported without re-execution.
 */
import { type Block, genRequestsRoot } from "@ethereumjs/block";
import { Hardfork } from "@ethereumjs/common";
import {
  bigIntToHex,
  bytesToHex,
  createAddressFromString,
  createWithdrawal,
  equalsBytes,
  hexToBytes,
} from "@ethereumjs/util";
import { sha256 } from "ethereum-cryptography/sha256";
import { LRUCache } from "lru-cache";
import type { ChainMetrics } from "../../metrics/index.ts";
import type { Logger } from "../../utils/logger.ts";
import type { Blockchain } from "../chain/blockchain.ts";
import { keccak256 } from "../crypto.ts";
import { ChainError, ChainErrorCode } from "../errors.ts";
import type { BuiltBlock } from "../executor/executor.ts";
import type { TxPool } from "../txpool/pool.ts";
import { blockToPayload, decodeRequests, encodeRequests, PayloadError, payloadToBlock } from "./payload.ts";
import {
  type ClientVersionV1,
  ENGINE_CAPABILITIES,
  EngineError,
  EngineErrorCode,
  type ExecutionEngine,
  type ExecutionPayloadV3,
  type ForkchoiceStateV1,
  type ForkchoiceUpdatedResponse,
  type GetPayloadV3Response,
  type GetPayloadV4Response,
  type Hex,
  type PayloadAttributesV3,
  type PayloadStatusV1,
} from "./types.ts";

export interface EngineOptions {
  /** Extra data written into blocks we build (<= 32 bytes). */
  extraData?: Uint8Array;
  /** Gas limit of blocks we build; defaults to the parent's. */
  gasLimit?: bigint;
  /** Stop adding transactions to a payload after this long (ms); the payload is still sealed. */
  maxBuildMillis?: number;
  clientVersion?: ClientVersionV1;
}

export interface EngineModules {
  chain: Blockchain;
  pool: TxPool;
  logger: Logger;
  metrics?: ChainMetrics;
}

interface PayloadJob {
  parentHash: Hex;
  result: Promise<BuiltBlock>;
}

const ZERO_HASH = `0x${"00".repeat(32)}` as Hex;

export const CLIENT_VERSION: ClientVersionV1 = {
  code: "OG",
  name: "opengpu",
  version: "0.1.0",
  commit: "0x00000000",
};

export class InProcessEngine implements ExecutionEngine {
  private readonly chain: Blockchain;
  private readonly pool: TxPool;
  private readonly logger: Logger;
  private readonly metrics: ChainMetrics | undefined;
  private readonly opts: EngineOptions;
  private readonly payloads = new LRUCache<string, PayloadJob>({ max: 32 });
  /** Payloads we returned from getPayload, by block hash, with the block they describe. */
  private readonly served = new LRUCache<string, { payload: ExecutionPayloadV3; block: Block }>({ max: 16 });
  /** Blocks found invalid, so repeated deliveries are answered without re-executing. */
  private readonly invalid = new LRUCache<string, { reason: string; latestValidHash: Hex | null }>({
    max: 512,
  });

  constructor(opts: EngineOptions, modules: EngineModules) {
    this.opts = opts;
    this.chain = modules.chain;
    this.pool = modules.pool;
    this.logger = modules.logger;
    this.metrics = modules.metrics;
  }

  async exchangeCapabilities(_methods: string[]): Promise<string[]> {
    return [...ENGINE_CAPABILITIES];
  }

  async getClientVersionV1(_client: ClientVersionV1): Promise<ClientVersionV1[]> {
    return [this.opts.clientVersion ?? CLIENT_VERSION];
  }

  private forkOf(timestamp: bigint, number: bigint): string {
    return this.chain.config.hardforkAt(number, timestamp);
  }

  /** `cancun`: exactly Cancun; `prague`: exactly Prague; `cancun+`: Cancun or later. */
  private requireFork(timestamp: bigint, number: bigint, fork: "cancun" | "prague" | "cancun+"): void {
    const common = this.chain.config.commonAt(number, timestamp);
    const isPrague = common.gteHardfork(Hardfork.Prague);
    const isCancun = common.gteHardfork(Hardfork.Cancun);
    const ok = fork === "prague" ? isPrague : fork === "cancun+" ? isCancun : isCancun && !isPrague;
    if (!ok) {
      throw new EngineError(
        EngineErrorCode.UNSUPPORTED_FORK,
        `Unsupported fork: payload at timestamp ${timestamp} is ${this.forkOf(timestamp, number)}`,
      );
    }
  }

  newPayloadV3(
    payload: ExecutionPayloadV3,
    versionedHashes: Hex[],
    parentBeaconBlockRoot: Hex,
  ): Promise<PayloadStatusV1> {
    this.requireFork(BigInt(payload.timestamp), BigInt(payload.blockNumber), "cancun");
    return this.newPayload(payload, versionedHashes, parentBeaconBlockRoot, undefined);
  }

  newPayloadV4(
    payload: ExecutionPayloadV3,
    versionedHashes: Hex[],
    parentBeaconBlockRoot: Hex,
    executionRequests: Hex[],
  ): Promise<PayloadStatusV1> {
    this.requireFork(BigInt(payload.timestamp), BigInt(payload.blockNumber), "prague");
    return this.newPayload(payload, versionedHashes, parentBeaconBlockRoot, executionRequests);
  }

  private async newPayload(
    payload: ExecutionPayloadV3,
    versionedHashes: Hex[],
    parentBeaconBlockRoot: Hex,
    executionRequests: Hex[] | undefined,
  ): Promise<PayloadStatusV1> {
    const hash = hexToBytes(payload.blockHash);
    if (this.chain.store.hasBlock(hash)) return valid(payload.blockHash);
    const known = this.invalid.get(payload.blockHash.toLowerCase());
    if (known !== undefined)
      return { status: "INVALID", latestValidHash: known.latestValidHash, validationError: known.reason };
    const parentInvalid = this.invalid.get(payload.parentHash.toLowerCase());
    if (parentInvalid !== undefined) {
      return this.markInvalid(
        payload.blockHash,
        parentInvalid.latestValidHash,
        `parent ${payload.parentHash} is invalid`,
      );
    }
    const parent = this.chain.store.getHeader(hexToBytes(payload.parentHash));
    if (parent === undefined) return { status: "SYNCING", latestValidHash: null, validationError: null };

    let block: Block;
    try {
      const served = this.served.get(payload.blockHash.toLowerCase());
      const common = this.chain.config.commonAt(BigInt(payload.blockNumber), BigInt(payload.timestamp));
      // Our own payload coming back: skip decoding its transactions again, but still check that
      // the side inputs match what the block committed to.
      if (
        served !== undefined &&
        samePayload(served.payload, payload) &&
        matchesContext(served.block, parentBeaconBlockRoot, executionRequests)
      ) {
        block = served.block;
      } else {
        block = await payloadToBlock(payload, common, { parentBeaconBlockRoot, executionRequests });
      }
    } catch (err) {
      if (err instanceof PayloadError && err.blockHashMismatch) {
        return { status: "INVALID_BLOCK_HASH", latestValidHash: null, validationError: err.message };
      }
      return this.markInvalid(payload.blockHash, payload.parentHash, (err as Error).message);
    }
    const blobHashes = block.transactions.flatMap((tx) =>
      "blobVersionedHashes" in tx ? (tx.blobVersionedHashes as string[]).map((h) => h.toLowerCase()) : [],
    );
    if (
      blobHashes.length !== versionedHashes.length ||
      blobHashes.some((h, i) => h !== versionedHashes[i].toLowerCase())
    ) {
      return this.markInvalid(
        payload.blockHash,
        payload.parentHash,
        "versioned hashes do not match the block's blob transactions",
      );
    }
    try {
      await this.chain.insertBlock(block);
    } catch (err) {
      if (err instanceof ChainError && err.code === ChainErrorCode.UNKNOWN_PARENT) {
        return { status: "SYNCING", latestValidHash: null, validationError: null };
      }
      const reason = (err as Error).message;
      this.logger.warn({ number: block.header.number, hash: payload.blockHash, reason }, "Invalid payload");
      return this.markInvalid(payload.blockHash, payload.parentHash, reason);
    }
    return valid(payload.blockHash);
  }

  private markInvalid(blockHash: Hex, latestValidHash: Hex | null, reason: string): PayloadStatusV1 {
    this.invalid.set(blockHash.toLowerCase(), { reason, latestValidHash });
    return { status: "INVALID", latestValidHash, validationError: reason };
  }

  async forkchoiceUpdatedV3(
    state: ForkchoiceStateV1,
    attributes: PayloadAttributesV3 | null,
  ): Promise<ForkchoiceUpdatedResponse> {
    const headHash = hexToBytes(state.headBlockHash);
    const invalid = this.invalid.get(state.headBlockHash.toLowerCase());
    if (invalid !== undefined) {
      return {
        payloadStatus: {
          status: "INVALID",
          latestValidHash: invalid.latestValidHash,
          validationError: invalid.reason,
        },
        payloadId: null,
      };
    }
    const head = this.chain.store.getBlock(headHash);
    if (head === undefined) {
      return {
        payloadStatus: { status: "SYNCING", latestValidHash: null, validationError: null },
        payloadId: null,
      };
    }
    for (const [name, hash] of [
      ["safe", state.safeBlockHash],
      ["finalized", state.finalizedBlockHash],
    ] as const) {
      if (hash === ZERO_HASH) continue;
      const header = this.chain.store.getHeader(hexToBytes(hash));
      if (header === undefined || header.number > head.header.number) {
        throw new EngineError(
          EngineErrorCode.INVALID_FORKCHOICE_STATE,
          `Invalid forkchoice state: unknown ${name} block ${hash}`,
        );
      }
      if (
        !equalsBytes(
          this.chain.store.ancestorHash(head.header, header.number) ?? new Uint8Array(),
          header.hash(),
        )
      ) {
        throw new EngineError(
          EngineErrorCode.INVALID_FORKCHOICE_STATE,
          `Invalid forkchoice state: ${name} block ${hash} is not an ancestor of the head`,
        );
      }
    }
    await this.chain.setHead(headHash);
    await this.chain.setForkchoiceMarkers(
      state.safeBlockHash === ZERO_HASH ? undefined : hexToBytes(state.safeBlockHash),
      state.finalizedBlockHash === ZERO_HASH ? undefined : hexToBytes(state.finalizedBlockHash),
    );
    let payloadId: Hex | null = null;
    if (attributes !== null) {
      const timestamp = BigInt(attributes.timestamp);
      if (timestamp <= head.header.timestamp) {
        throw new EngineError(
          EngineErrorCode.INVALID_PAYLOAD_ATTRIBUTES,
          `Invalid payload attributes: timestamp ${timestamp} not after head's ${head.header.timestamp}`,
        );
      }
      this.requireFork(timestamp, head.header.number + 1n, "cancun+");
      payloadId = this.startBuild(head, attributes);
    }
    return { payloadStatus: valid(state.headBlockHash), payloadId };
  }

  private startBuild(head: Block, attributes: PayloadAttributesV3): Hex {
    const id = bytesToHex(
      keccak256(new TextEncoder().encode(`${bytesToHex(head.hash())}${JSON.stringify(attributes)}`)).subarray(
        0,
        8,
      ),
    ) as Hex;
    if (this.payloads.has(id)) return id;
    const parentHash = bytesToHex(head.hash()) as Hex;
    const started = performance.now();
    const source = this.pool.txSource(head.header.calcNextBaseFee());
    const result = this.chain.executor
      .build(
        head.header,
        {
          timestamp: BigInt(attributes.timestamp),
          prevRandao: hexToBytes(attributes.prevRandao),
          suggestedFeeRecipient: createAddressFromString(attributes.suggestedFeeRecipient),
          withdrawals: attributes.withdrawals.map((w) =>
            createWithdrawal({
              index: w.index,
              validatorIndex: w.validatorIndex,
              address: w.address,
              amount: w.amount,
            }),
          ),
          parentBeaconBlockRoot: hexToBytes(attributes.parentBeaconBlockRoot),
        },
        source,
        { gasLimit: this.opts.gasLimit, extraData: this.opts.extraData, maxMillis: this.opts.maxBuildMillis },
      )
      .then((built) => {
        this.chain.rememberBuilt(built);
        this.metrics?.buildSeconds.observe((performance.now() - started) / 1000);
        this.logger.debug(
          {
            number: built.block.header.number,
            txs: built.block.transactions.length,
            executeMs: Math.round(built.timings.execute),
            commitMs: Math.round(built.timings.commit),
            sealMs: Math.round(built.timings.seal),
          },
          "Built payload",
        );
        if (built.rejected.length > 0) {
          this.logger.debug(
            { count: built.rejected.length, first: built.rejected[0].error },
            "Dropped transactions that failed in the builder",
          );
          void this.pool.drop(built.rejected.map((r) => bytesToHex(r.tx.hash())));
        }
        return built;
      });
    result.catch((err: unknown) => this.logger.error({ err }, "Payload build failed"));
    this.payloads.set(id, { parentHash, result });
    return id;
  }

  private async built(payloadId: Hex): Promise<BuiltBlock> {
    const job = this.payloads.get(payloadId.toLowerCase());
    if (job === undefined) throw new EngineError(EngineErrorCode.UNKNOWN_PAYLOAD, "Unknown payload");
    return job.result;
  }

  private serve(built: BuiltBlock): ExecutionPayloadV3 {
    const hash = bytesToHex(built.block.hash());
    const cached = this.served.get(hash);
    if (cached !== undefined) return cached.payload;
    const payload = blockToPayload(built.block);
    this.served.set(hash, { payload, block: built.block });
    return payload;
  }

  async getPayloadV3(payloadId: Hex): Promise<GetPayloadV3Response> {
    const built = await this.built(payloadId);
    this.requireFork(built.block.header.timestamp, built.block.header.number, "cancun");
    return {
      executionPayload: this.serve(built),
      blockValue: bigIntToHex(built.value) as Hex,
      blobsBundle: { commitments: [], proofs: [], blobs: [] },
      shouldOverrideBuilder: false,
    };
  }

  async getPayloadV4(payloadId: Hex): Promise<GetPayloadV4Response> {
    const built = await this.built(payloadId);
    this.requireFork(built.block.header.timestamp, built.block.header.number, "prague");
    return {
      executionPayload: this.serve(built),
      blockValue: bigIntToHex(built.value) as Hex,
      blobsBundle: { commitments: [], proofs: [], blobs: [] },
      shouldOverrideBuilder: false,
      executionRequests: encodeRequests(built.requests),
    };
  }
}

/** Field-by-field equality of two payloads (transactions compared as hex strings). */
function samePayload(a: ExecutionPayloadV3, b: ExecutionPayloadV3): boolean {
  if (a === b) return true;
  const scalar: (keyof ExecutionPayloadV3)[] = [
    "parentHash",
    "feeRecipient",
    "stateRoot",
    "receiptsRoot",
    "logsBloom",
    "prevRandao",
    "blockNumber",
    "gasLimit",
    "gasUsed",
    "timestamp",
    "extraData",
    "baseFeePerGas",
    "blockHash",
    "blobGasUsed",
    "excessBlobGas",
  ];
  for (const key of scalar) if (String(a[key]).toLowerCase() !== String(b[key]).toLowerCase()) return false;
  if (a.transactions.length !== b.transactions.length || a.withdrawals.length !== b.withdrawals.length)
    return false;
  for (let i = 0; i < a.transactions.length; i++)
    if (a.transactions[i].toLowerCase() !== b.transactions[i].toLowerCase()) return false;
  return JSON.stringify(a.withdrawals).toLowerCase() === JSON.stringify(b.withdrawals).toLowerCase();
}

/** The parent beacon root and execution requests given with a payload match its header. */
function matchesContext(
  block: Block,
  parentBeaconBlockRoot: Hex,
  executionRequests: Hex[] | undefined,
): boolean {
  const root = block.header.parentBeaconBlockRoot;
  if (root !== undefined && bytesToHex(root) !== parentBeaconBlockRoot.toLowerCase()) return false;
  if (executionRequests === undefined) return block.header.requestsHash === undefined;
  const expected = block.header.requestsHash;
  if (expected === undefined) return false;
  return equalsBytes(genRequestsRoot(decodeRequests(executionRequests), sha256), expected);
}

function valid(hash: Hex): PayloadStatusV1 {
  return { status: "VALID", latestValidHash: hash, validationError: null };
}
