/**
 * What JSON-RPC handlers can reach: the chain, the pool, options, and the hooks the node
 * provides (dev accounts, automine, peer count, sync status). Also block-reference resolution
 * shared by every method that takes a block tag.
 */
import type { Block, BlockHeader } from "@ethereumjs/block";
import { bytesToHex, equalsBytes } from "@ethereumjs/util";
import type { Blockchain } from "../../execution/chain/blockchain.ts";
import type { TxPool } from "../../execution/txpool/pool.ts";
import { headerNotFound, RpcError, RpcErrorCode } from "./errors.ts";
import type { BlockRef } from "./params.ts";

export interface RpcOptions {
  /** Gas cap for eth_call, eth_estimateGas and traces (geth --rpc.gascap); 0 = none. */
  gasCap: bigint;
  /** Wall-clock limit for EVM work in one call, ms (geth --rpc.evmtimeout). */
  evmTimeoutMs: number;
  /** Most blocks one eth_getLogs / filter query may span. */
  logsMaxRange: bigint;
  /** Most logs one eth_getLogs returns. */
  logsMaxResults: number;
  /** Filters not polled for this long are removed, ms. */
  filterTimeoutMs: number;
  /** Transaction fee cap for eth_sendTransaction / eth_sendRawTransaction in wei (geth --rpc.txfeecap); 0 = none. */
  txFeeCap: bigint;
  /** Namespaces served (eth, net, web3, txpool, opengpu, debug, admin; engine is separate). */
  namespaces: Set<string>;
}

export const DEFAULT_RPC_OPTIONS: RpcOptions = {
  gasCap: 50_000_000n,
  evmTimeoutMs: 5_000,
  logsMaxRange: 10_000n,
  logsMaxResults: 10_000,
  filterTimeoutMs: 5 * 60_000,
  txFeeCap: 10n ** 18n * 1000n,
  namespaces: new Set(["eth", "net", "web3", "txpool", "opengpu"]),
};

/** Signs transactions for the dev accounts (dev mode's eth_sendTransaction). */
export interface DevSigner {
  addresses(): string[];
  sign(address: string, digest: Uint8Array): { r: Uint8Array; s: Uint8Array; recovery: 0 | 1 } | undefined;
  privateKey(address: string): Uint8Array | undefined;
}

export interface SyncStatus {
  startingBlock: bigint;
  currentBlock: bigint;
  highestBlock: bigint;
}

export interface RpcContext {
  chain: Blockchain;
  pool: TxPool;
  opts: RpcOptions;
  clientVersion: string;
  signer?: DevSigner;
  /** Resolves once a submitted transaction is mined (automine); absent otherwise. */
  awaitInclusion?: (txHash: string) => Promise<void>;
  peerCount: () => number;
  syncStatus: () => SyncStatus | false;
}

/** Resolves a block reference to a stored block, or undefined. `pending` is the head. */
export function resolveBlock(ctx: RpcContext, ref: BlockRef): Block | undefined {
  const header = resolveHeader(ctx, ref);
  return header === undefined ? undefined : ctx.chain.store.getBlock(header.hash());
}

export function resolveHeader(ctx: RpcContext, ref: BlockRef): BlockHeader | undefined {
  const { chain } = ctx;
  switch (ref.kind) {
    case "tag":
      switch (ref.tag) {
        case "latest":
        case "pending":
          return chain.head.header;
        case "earliest":
          return chain.genesis.header;
        case "safe":
          return chain.safe;
        case "finalized":
          return chain.finalized;
      }
      return undefined;
    case "number":
      if (ref.number > chain.head.header.number) return undefined;
      return chain.store.getHeaderByNumber(ref.number);
    case "hash": {
      const header = chain.store.getHeader(ref.hash);
      if (header === undefined) return undefined;
      if (ref.requireCanonical && !chain.store.isCanonical(ref.hash)) {
        throw new RpcError(RpcErrorCode.SERVER, `hash ${bytesToHex(ref.hash)} is not currently canonical`);
      }
      return header;
    }
  }
}

/** For state queries: the header, or the "header not found" error geth returns. */
export function stateHeader(ctx: RpcContext, ref: BlockRef): BlockHeader {
  const header = resolveHeader(ctx, ref);
  if (header === undefined) {
    if (ref.kind === "hash") throw new RpcError(RpcErrorCode.SERVER, `header for hash not found`);
    throw headerNotFound();
  }
  if (!ctx.chain.executor.hasState(header.stateRoot)) {
    throw new RpcError(
      RpcErrorCode.SERVER,
      `missing trie node ${bytesToHex(header.stateRoot)} (state not available)`,
    );
  }
  return header;
}

export function isHead(ctx: RpcContext, header: BlockHeader): boolean {
  return equalsBytes(header.hash(), ctx.chain.head.hash());
}
