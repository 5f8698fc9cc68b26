/**
 * The `eth_` namespace (state, blocks, transactions, receipts, logs, calls, fees).
 * Filters and subscriptions live in filters.ts; eth_getProof and eth_simulateV1 in their own files.
 */
import type { Block } from "@ethereumjs/block";
import { createTx, type TypedTransaction } from "@ethereumjs/tx";
import { Address, bigIntToHex, bytesToHex, hexToBytes, setLengthLeft } from "@ethereumjs/util";
import { formatOgpu } from "../../../../genesis/token.ts";
import { CallError, type CallMessage, executeCall } from "../../../execution/executor/call.ts";
import { ExecutionTimeoutError } from "../../../execution/executor/guard.ts";
import { TxPoolError } from "../../../execution/txpool/errors.ts";
import { type RpcContext, resolveBlock, resolveHeader, stateHeader } from "../context.ts";
import { headerNotFound, invalidParams, RpcError, RpcErrorCode, revertError } from "../errors.ts";
import { feeHistory, nextBlobFee, suggestTip } from "../fees.ts";
import { formatBlock, formatHeader, formatReceipt, formatReceipts, formatTx, type Json } from "../format.ts";
import { blockLogs, criteriaOf, queryLogs } from "../logs.ts";
import {
  address,
  any,
  type BlockRef,
  blockNumber,
  blockOverrides,
  blockRef,
  bool,
  type CallRequest,
  callRequest,
  count,
  data,
  decodeData,
  hash,
  logFilter,
  optional,
  stateOverride,
  uint,
} from "../params.ts";
import { type MethodTable, method } from "../registry.ts";

const q = (n: bigint | number) => bigIntToHex(BigInt(n));
const LATEST: BlockRef = { kind: "tag", tag: "latest" };

export function toCallMessage(req: CallRequest): CallMessage {
  return {
    from: req.from !== undefined ? new Address(req.from) : undefined,
    to: req.to !== undefined ? new Address(req.to) : undefined,
    gas: req.gas,
    gasPrice: req.gasPrice,
    maxFeePerGas: req.maxFeePerGas,
    maxPriorityFeePerGas: req.maxPriorityFeePerGas,
    value: req.value,
    data: req.input,
    nonce: req.nonce,
    accessList: req.accessList,
    authorizationList: req.authorizationList,
  };
}

function callFailure(err: unknown): never {
  if (err instanceof CallError) throw new RpcError(RpcErrorCode.SERVER, err.message);
  if (err instanceof ExecutionTimeoutError) throw new RpcError(RpcErrorCode.SERVER, err.message);
  throw err;
}

/** Maps an EVM failure of an executed call to geth's error. */
function executionError(error: string, returnValue: Uint8Array): RpcError {
  if (error === "revert") return revertError(returnValue);
  return new RpcError(RpcErrorCode.SERVER, error);
}

function storageSlot(value: unknown): Uint8Array {
  try {
    const bytes = decodeData(value);
    if (bytes.length > 32) throw invalidParams("invalid argument 1: storage slot longer than 32 bytes");
    return setLengthLeft(bytes, 32);
  } catch (err) {
    if (err instanceof RpcError) throw err;
    // Quantities with odd length ("0x0") are accepted too.
    if (typeof value === "string" && /^0x[0-9a-fA-F]{1,64}$/.test(value)) {
      return setLengthLeft(hexToBytes(`0x${value.slice(2).padStart(64, "0")}`), 32);
    }
    throw invalidParams(`invalid argument 1: ${(err as Error).message}`);
  }
}

export function blockJson(ctx: RpcContext, block: Block, full: boolean): Json {
  return formatBlock(block, full, full ? ctx.chain.store.getSenders(block.hash()) : undefined);
}

function txByIndex(ctx: RpcContext, block: Block | undefined, index: bigint): Json {
  if (block === undefined || index >= BigInt(block.transactions.length)) return null;
  const i = Number(index);
  const senders = ctx.chain.store.getSenders(block.hash());
  if (senders === undefined) return null;
  return formatTx(block.transactions[i], { block, index: i, sender: senders[i] });
}

async function estimateGas(
  ctx: RpcContext,
  req: CallRequest,
  ref: BlockRef,
  overrides: Parameters<typeof executeCall>[2]["stateOverride"],
): Promise<bigint> {
  const header = stateHeader(ctx, ref);
  const msg = toCallMessage(req);
  const cap = ctx.opts.gasCap > 0n && ctx.opts.gasCap < header.gasLimit ? ctx.opts.gasCap : header.gasLimit;
  let hi = msg.gas !== undefined && msg.gas < cap ? msg.gas : cap;
  const feeCap = msg.gasPrice ?? msg.maxFeePerGas ?? 0n;
  if (feeCap > 0n) {
    const sm = ctx.chain.stateAt(header);
    const balance = msg.from !== undefined ? ((await sm.getAccount(msg.from))?.balance ?? 0n) : 0n;
    const value = msg.value ?? 0n;
    if (value > balance) throw new RpcError(RpcErrorCode.SERVER, "insufficient funds for transfer");
    const allowance = (balance - value) / feeCap;
    if (hi > allowance) hi = allowance;
  }
  const run = (gas: bigint) =>
    executeCall(
      ctx.chain,
      { ...msg, gas },
      {
        header,
        stateOverride: overrides,
        gasCap: 0n,
        timeoutMs: ctx.opts.evmTimeoutMs,
      },
    ).catch(callFailure);

  // A plain transfer to an account without code costs exactly 21,000.
  if (
    msg.to !== undefined &&
    (msg.data === undefined || msg.data.length === 0) &&
    msg.authorizationList === undefined
  ) {
    const code = await ctx.chain.stateAt(header).getCode(msg.to);
    if (code.length === 0 && overrides?.get(bytesToHex(msg.to.bytes).slice(2))?.code === undefined) {
      const simple = await run(21_000n);
      if (simple.error === undefined) return 21_000n;
    }
  }
  const first = await run(hi);
  if (first.error !== undefined) {
    if (first.error === "revert") throw revertError(first.returnValue);
    if (/out of gas|OOG/i.test(first.error))
      throw new RpcError(RpcErrorCode.SERVER, `gas required exceeds allowance (${hi})`);
    throw new RpcError(RpcErrorCode.SERVER, first.error);
  }
  let lo = first.gasUsed - 1n;
  // geth's optimistic first guess: used gas plus the 63/64 call stipend margin.
  const optimistic = ((first.gasUsed + 2_300n) * 64n) / 63n;
  if (optimistic < hi) {
    const r = await run(optimistic);
    if (r.error === undefined) hi = optimistic;
    else lo = optimistic;
  }
  // Binary search until within 1.5% (geth's estimateGasErrorRatio).
  while (lo + 1n < hi) {
    if (((hi - lo) * 1000n) / hi < 15n) break;
    const mid = (lo + hi) / 2n;
    const r = await run(mid);
    if (r.error === undefined) hi = mid;
    else if (r.error === "revert" && !/out of gas/i.test(r.error)) {
      // A revert at lower gas usually means the contract checked gasleft(): treat as too little gas.
      lo = mid;
    } else lo = mid;
  }
  return hi;
}

async function fillTransaction(ctx: RpcContext, req: CallRequest): Promise<TypedTransaction> {
  if (req.from === undefined) throw invalidParams("invalid argument 0: missing from");
  const from = new Address(req.from);
  const head = ctx.chain.head.header;
  const common = ctx.chain.config.commonAt(head.number + 1n, head.timestamp + 1n);
  const nonce = req.nonce ?? (await ctx.pool.pendingNonce(from));
  const gas = req.gas ?? (await estimateGas(ctx, req, LATEST, undefined));
  const base = {
    nonce,
    gasLimit: gas,
    to: req.to !== undefined ? new Address(req.to) : undefined,
    value: req.value ?? 0n,
    data: req.input ?? new Uint8Array(0),
    chainId: ctx.chain.config.chainId,
  };
  const accessList = (req.accessList ?? []).map((e) => ({
    address: bytesToHex(e.address),
    storageKeys: e.storageKeys.map((k) => bytesToHex(k)),
  }));
  if (req.gasPrice !== undefined) {
    return createTx(
      { ...base, type: accessList.length > 0 ? 1 : 0, gasPrice: req.gasPrice, accessList } as never,
      { common },
    );
  }
  const tip = req.maxPriorityFeePerGas ?? suggestTip(ctx.chain);
  const maxFee = req.maxFeePerGas ?? head.calcNextBaseFee() * 2n + tip;
  return createTx(
    { ...base, type: 2, maxFeePerGas: maxFee, maxPriorityFeePerGas: tip, accessList } as never,
    { common },
  );
}

async function submit(ctx: RpcContext, raw: Uint8Array | TypedTransaction): Promise<string> {
  let hashHex: string;
  try {
    const ptx = raw instanceof Uint8Array ? ctx.pool.decode(raw) : raw;
    if (ctx.opts.txFeeCap > 0n) {
      const price = "maxFeePerGas" in ptx ? ptx.maxFeePerGas : (ptx as { gasPrice: bigint }).gasPrice;
      const fee = price * ptx.gasLimit;
      if (fee > ctx.opts.txFeeCap) {
        throw new RpcError(
          RpcErrorCode.SERVER,
          `tx fee (${formatOgpu(fee)} ether) exceeds the configured cap (${formatOgpu(ctx.opts.txFeeCap)} ether)`,
        );
      }
    }
    const added = await ctx.pool.add(ptx, {
      local: true,
      size: raw instanceof Uint8Array ? raw.length : undefined,
    });
    hashHex = added.hashHex;
  } catch (err) {
    if (err instanceof TxPoolError || err instanceof RpcError) throw err;
    throw new RpcError(RpcErrorCode.SERVER, (err as Error).message);
  }
  if (ctx.awaitInclusion !== undefined) await ctx.awaitInclusion(hashHex);
  return hashHex;
}

export function ethMethods(ctx: RpcContext): MethodTable {
  const { chain } = ctx;
  return {
    eth_chainId: method([], () => q(chain.config.chainId)),
    eth_blockNumber: method([], () => q(chain.head.header.number)),
    eth_syncing: method([], () => {
      const status = ctx.syncStatus();
      if (status === false) return false;
      return {
        startingBlock: q(status.startingBlock),
        currentBlock: q(status.currentBlock),
        highestBlock: q(status.highestBlock),
      };
    }),
    eth_accounts: method([], () => ctx.signer?.addresses() ?? []),
    eth_getBalance: method([address("address"), optional(blockRef("block"))], async (addr, ref) => {
      const header = stateHeader(ctx, ref ?? LATEST);
      const account = await chain.stateAt(header).getAccount(new Address(addr));
      return q(account?.balance ?? 0n);
    }),
    eth_getCode: method([address("address"), optional(blockRef("block"))], async (addr, ref) => {
      const header = stateHeader(ctx, ref ?? LATEST);
      return bytesToHex(await chain.stateAt(header).getCode(new Address(addr)));
    }),
    eth_getStorageAt: method(
      [address("address"), any("slot"), optional(blockRef("block"))],
      async (addr, slot, ref) => {
        const key = storageSlot(slot);
        const header = stateHeader(ctx, ref ?? LATEST);
        const value = await chain.stateAt(header).getStorage(new Address(addr), key);
        return bytesToHex(setLengthLeft(value, 32));
      },
    ),
    eth_getTransactionCount: method([address("address"), optional(blockRef("block"))], async (addr, ref) => {
      const target = ref ?? LATEST;
      if (target.kind === "tag" && target.tag === "pending")
        return q(await ctx.pool.pendingNonce(new Address(addr)));
      const header = stateHeader(ctx, target);
      return q((await chain.stateAt(header).getAccount(new Address(addr)))?.nonce ?? 0n);
    }),
    eth_call: method(
      [
        callRequest("transaction"),
        optional(blockRef("block")),
        optional(stateOverride("stateOverride")),
        optional(blockOverrides("blockOverrides")),
      ],
      async (req, ref, overrides, blockOverride) => {
        const header = stateHeader(ctx, ref ?? LATEST);
        const result = await executeCall(chain, toCallMessage(req), {
          header,
          stateOverride: overrides,
          blockOverrides: blockOverride,
          gasCap: ctx.opts.gasCap,
          timeoutMs: ctx.opts.evmTimeoutMs,
        }).catch(callFailure);
        if (result.error !== undefined) throw executionError(result.error, result.returnValue);
        return bytesToHex(result.returnValue);
      },
    ),
    eth_estimateGas: method(
      [callRequest("transaction"), optional(blockRef("block")), optional(stateOverride("stateOverride"))],
      async (req, ref, overrides) => q(await estimateGas(ctx, req, ref ?? LATEST, overrides)),
    ),
    eth_createAccessList: method(
      [callRequest("transaction"), optional(blockRef("block"))],
      async (req, ref) => {
        const header = stateHeader(ctx, ref ?? LATEST);
        const msg = toCallMessage(req);
        const exclude = new Set<string>();
        if (msg.from !== undefined) exclude.add(msg.from.toString());
        if (msg.to !== undefined) exclude.add(msg.to.toString());
        let accessList = msg.accessList ?? [];
        let last = "";
        // Re-run with the list found until it stops changing (geth does the same).
        for (let round = 0; round < 8; round++) {
          const result = await executeCall(
            chain,
            { ...msg, accessList },
            {
              header,
              gasCap: ctx.opts.gasCap,
              timeoutMs: ctx.opts.evmTimeoutMs,
              reportAccessList: true,
            },
          ).catch(callFailure);
          const found = (result.accessList ?? [])
            .filter((e) => !exclude.has(e.address.toLowerCase()) && !isPrecompile(e.address))
            .map((e) => ({
              address: hexToBytes(e.address as `0x${string}`),
              storageKeys: e.storageKeys.map((k) => hexToBytes(k as `0x${string}`)),
            }));
          const key = JSON.stringify(
            found.map((e) => [bytesToHex(e.address), e.storageKeys.map((k) => bytesToHex(k))]),
          );
          const json = found.map((e) => ({
            address: bytesToHex(e.address),
            storageKeys: e.storageKeys.map((k) => bytesToHex(k)),
          }));
          if (key === last || round === 7) {
            const out: Record<string, Json> = { accessList: json, gasUsed: q(result.gasUsed) };
            if (result.error !== undefined)
              out.error = result.error === "revert" ? revertError(result.returnValue).message : result.error;
            return out;
          }
          last = key;
          accessList = found;
        }
        return null;
      },
    ),
    eth_gasPrice: method([], () => q((chain.head.header.baseFeePerGas ?? 0n) + suggestTip(chain))),
    eth_maxPriorityFeePerGas: method([], () => q(suggestTip(chain))),
    eth_blobBaseFee: method([], () => q(nextBlobFee(chain.head, chain))),
    eth_feeHistory: method(
      [count("blockCount"), blockNumber("newestBlock"), optional(any("rewardPercentiles"))],
      (blocks, newest, percentiles) => {
        if (blocks === 0n)
          return {
            oldestBlock: "0x0",
            baseFeePerGas: [],
            gasUsedRatio: [],
            baseFeePerBlobGas: [],
            blobGasUsedRatio: [],
          };
        const capped = blocks > 1024n ? 1024n : blocks;
        const header = resolveHeader(ctx, newest);
        if (header === undefined) throw headerNotFound();
        let list: number[] | undefined;
        if (percentiles !== undefined) {
          if (
            !Array.isArray(percentiles) ||
            percentiles.length > 100 ||
            percentiles.some((p) => typeof p !== "number" || p < 0 || p > 100)
          ) {
            throw invalidParams("invalid argument 2: reward percentiles must be numbers in [0, 100]");
          }
          for (let i = 1; i < percentiles.length; i++) {
            if (percentiles[i] < percentiles[i - 1])
              throw invalidParams(
                `invalid reward percentile: #${i - 1}:${percentiles[i - 1]} > #${i}:${percentiles[i]}`,
              );
          }
          list = percentiles as number[];
        }
        return feeHistory(chain, capped, header.number, list);
      },
    ),
    eth_sendRawTransaction: method([data("transaction")], (raw) => submit(ctx, raw)),
    eth_sendTransaction: method([callRequest("transaction")], async (req) => {
      const signer = ctx.signer;
      if (signer === undefined || req.from === undefined)
        throw new RpcError(RpcErrorCode.SERVER, "unknown account");
      const key = signer.privateKey(bytesToHex(req.from));
      if (key === undefined) throw new RpcError(RpcErrorCode.SERVER, "unknown account");
      const tx = (await fillTransaction(ctx, req)).sign(key);
      return submit(ctx, tx);
    }),
    eth_getTransactionByHash: method([hash("hash")], (txHash) => {
      const found = chain.store.getTransaction(txHash);
      if (found !== undefined) {
        const senders = chain.store.getSenders(found.block.hash());
        return formatTx(found.tx, {
          block: found.block,
          index: found.index,
          sender: senders?.[found.index] ?? found.tx.getSenderAddress(),
        });
      }
      const pending = ctx.pool.get(txHash);
      return pending === undefined ? null : formatTx(pending.tx, { sender: pending.sender });
    }),
    eth_getTransactionByBlockHashAndIndex: method([hash("blockHash"), uint("index")], (blockHash, index) =>
      txByIndex(ctx, chain.store.getBlock(blockHash), index),
    ),
    eth_getTransactionByBlockNumberAndIndex: method([blockNumber("block"), uint("index")], (ref, index) =>
      txByIndex(ctx, resolveBlock(ctx, ref), index),
    ),
    eth_getTransactionReceipt: method([hash("hash")], (txHash) => {
      const found = chain.store.getTransaction(txHash);
      if (found === undefined) return null;
      const receipts = chain.store.getReceipts(found.block.hash());
      const senders = chain.store.getSenders(found.block.hash());
      if (receipts === undefined || senders === undefined) return null;
      return formatReceipt(found.block, receipts, senders, found.index);
    }),
    eth_getBlockReceipts: method([blockRef("block")], (ref) => {
      const block = resolveBlock(ctx, ref);
      if (block === undefined) return null;
      const receipts = chain.store.getReceipts(block.hash());
      const senders = chain.store.getSenders(block.hash());
      if (receipts === undefined || senders === undefined) return null;
      return formatReceipts(block, receipts, senders);
    }),
    eth_getBlockByNumber: method([blockNumber("block"), bool("fullTransactions")], (ref, full) => {
      const block = resolveBlock(ctx, ref);
      return block === undefined ? null : blockJson(ctx, block, full);
    }),
    eth_getBlockByHash: method([hash("hash"), bool("fullTransactions")], (blockHash, full) => {
      const block = chain.store.getBlock(blockHash);
      return block === undefined ? null : blockJson(ctx, block, full);
    }),
    eth_getBlockTransactionCountByHash: method([hash("hash")], (blockHash) => {
      const block = chain.store.getBlock(blockHash);
      return block === undefined ? null : q(block.transactions.length);
    }),
    eth_getBlockTransactionCountByNumber: method([blockNumber("block")], (ref) => {
      const block = resolveBlock(ctx, ref);
      return block === undefined ? null : q(block.transactions.length);
    }),
    eth_getUncleCountByBlockHash: method([hash("hash")], (blockHash) => {
      const block = chain.store.getBlock(blockHash);
      return block === undefined ? null : q(block.uncleHeaders.length);
    }),
    eth_getUncleCountByBlockNumber: method([blockNumber("block")], (ref) => {
      const block = resolveBlock(ctx, ref);
      return block === undefined ? null : q(block.uncleHeaders.length);
    }),
    eth_getUncleByBlockHashAndIndex: method([hash("hash"), uint("index")], (blockHash, index) => {
      const uncle = chain.store.getBlock(blockHash)?.uncleHeaders[Number(index)];
      return uncle === undefined || index > 16n
        ? null
        : { ...formatHeader(uncle), uncles: [], transactions: [] };
    }),
    eth_getUncleByBlockNumberAndIndex: method([blockNumber("block"), uint("index")], (ref, index) => {
      const uncle = resolveBlock(ctx, ref)?.uncleHeaders[Number(index)];
      return uncle === undefined || index > 16n
        ? null
        : { ...formatHeader(uncle), uncles: [], transactions: [] };
    }),
    eth_getLogs: method([logFilter("filter")], async (filter) => {
      const criteria = criteriaOf(filter);
      if (filter.blockHash !== undefined) {
        const block = chain.store.getBlock(filter.blockHash);
        if (block === undefined) throw new RpcError(RpcErrorCode.SERVER, "unknown block");
        return blockLogs(chain, block, criteria);
      }
      // Numbers past the head are clamped to it, as geth does (a range wholly past it is empty).
      const head = chain.head.header.number;
      const number = (ref: BlockRef | undefined): bigint | undefined => {
        if (ref?.kind === "number") return ref.number > head ? head + 1n : ref.number;
        return resolveHeader(ctx, ref ?? LATEST)?.number;
      };
      const from = number(filter.fromBlock);
      let to = number(filter.toBlock);
      if (from === undefined || to === undefined) throw headerNotFound();
      if (from > head) return [];
      if (to > head) to = head;
      if (from > to) throw new RpcError(RpcErrorCode.INVALID_PARAMS, "invalid block range params");
      return queryLogs(chain, criteria, from, to, {
        maxRange: ctx.opts.logsMaxRange,
        maxResults: ctx.opts.logsMaxResults,
      });
    }),
  };
}

const PRECOMPILE_MAX = 0x11n;
function isPrecompile(addr: string): boolean {
  const n = BigInt(addr);
  return n > 0n && n <= PRECOMPILE_MAX;
}
