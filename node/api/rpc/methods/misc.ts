/** `net_`, `web3_` and `txpool_` namespaces, and debug's raw-data getters. */

import { Address, bigIntToHex, bytesToHex, toChecksumAddress } from "@ethereumjs/util";
import { encodeConsensusReceipt } from "../../../execution/chain/receipts.ts";
import { keccak256 } from "../../../execution/crypto.ts";
import type { PoolTx } from "../../../execution/txpool/pool.ts";
import { type RpcContext, resolveBlock } from "../context.ts";
import { formatTx, type Json } from "../format.ts";
import { address, blockRef, data, hash } from "../params.ts";
import { type MethodTable, method } from "../registry.ts";

const q = (n: bigint | number) => bigIntToHex(BigInt(n));

export function netWeb3Methods(ctx: RpcContext): MethodTable {
  return {
    net_version: method([], () => ctx.chain.config.chainId.toString()),
    net_listening: method([], () => true),
    net_peerCount: method([], () => q(ctx.peerCount())),
    web3_clientVersion: method([], () => ctx.clientVersion),
    web3_sha3: method([data("data")], (input) => bytesToHex(keccak256(input))),
  };
}

function byNonce(txs: Map<string, PoolTx[]>, fmt: (p: PoolTx) => Json): Record<string, Record<string, Json>> {
  const out: Record<string, Record<string, Json>> = {};
  for (const [sender, list] of txs) {
    const entry: Record<string, Json> = {};
    for (const ptx of list) entry[ptx.nonce.toString()] = fmt(ptx);
    out[toChecksumAddress(sender)] = entry;
  }
  return out;
}

function inspect(ptx: PoolTx): string {
  const to = ptx.tx.to === undefined ? "contract creation" : toChecksumAddress(ptx.tx.to.toString());
  return `${to}: ${ptx.tx.value} wei + ${ptx.tx.gasLimit} gas × ${ptx.feeCap} wei`;
}

export function txpoolMethods(ctx: RpcContext): MethodTable {
  const pool = ctx.pool;
  const full = (p: PoolTx) => formatTx(p.tx, { sender: p.sender });
  return {
    txpool_status: method([], () => ({ pending: q(pool.size.pending), queued: q(pool.size.queued) })),
    txpool_content: method([], () => {
      const { pending, queued } = pool.content();
      return { pending: byNonce(pending, full), queued: byNonce(queued, full) };
    }),
    txpool_contentFrom: method([address("address")], (addr) => {
      const { pending, queued } = pool.content(new Address(addr));
      const pick = (m: Map<string, PoolTx[]>) => {
        const out: Record<string, Json> = {};
        for (const list of m.values()) for (const p of list) out[p.nonce.toString()] = full(p);
        return out;
      };
      return { pending: pick(pending), queued: pick(queued) };
    }),
    txpool_inspect: method([], () => {
      const { pending, queued } = pool.content();
      return { pending: byNonce(pending, inspect), queued: byNonce(queued, inspect) };
    }),
  };
}

export function debugRawMethods(ctx: RpcContext): MethodTable {
  const { chain } = ctx;
  return {
    debug_getRawBlock: method([blockRef("block")], (ref) => {
      const block = resolveBlock(ctx, ref);
      return block === undefined ? null : bytesToHex(block.serialize());
    }),
    debug_getRawHeader: method([blockRef("block")], (ref) => {
      const block = resolveBlock(ctx, ref);
      return block === undefined ? null : bytesToHex(block.header.serialize());
    }),
    debug_getRawReceipts: method([blockRef("block")], (ref) => {
      const block = resolveBlock(ctx, ref);
      if (block === undefined) return null;
      const receipts = chain.store.getReceipts(block.hash()) ?? [];
      return receipts.map((r, i) => bytesToHex(encodeConsensusReceipt(r, block.transactions[i].type)));
    }),
    debug_getRawTransaction: method([hash("hash")], (txHash) => {
      const found = chain.store.getTransaction(txHash);
      if (found !== undefined) return bytesToHex(found.tx.serialize());
      const pending = ctx.pool.get(txHash);
      return pending === undefined ? "0x" : bytesToHex(pending.tx.serialize());
    }),
  };
}
