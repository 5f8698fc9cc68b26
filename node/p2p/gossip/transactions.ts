/**
 * Execution-layer transactions over gossip: `/opengpu/<fork digest>/transactions/ssz_snappy`.
 *
 * Ethereum spreads transactions over devp2p (eth/68 announcements and pulls); OpenGPU runs one
 * libp2p stack, so transactions get a gossip topic of their own in the `opengpu` namespace (not
 * `eth2`: the name must not collide with a consensus topic Ethereum may define). Each message is
 * one signed transaction in its canonical encoding (typed envelope or legacy RLP), which is also
 * its SSZ encoding as `Transaction = ByteList[MAX_BYTES_PER_TRANSACTION]`, the type execution
 * payloads carry: the `ssz_snappy` suffix holds.
 *
 * Validation is the pool's admission (remote: the price floor applies, no journal):
 *  - ACCEPT: admitted (pending or queued), forwarded;
 *  - IGNORE: already known, or refused for reasons of state or local policy that another node
 *    may judge differently (nonce already used here, balance, fee below our base fee or price
 *    floor, pool or account limits, size above our limit, unprotected legacy);
 *  - REJECT: invalid anywhere (undecodable, bad signature or chain id, intrinsic gas, fee fields,
 *    blob transactions, which OpenGPU never carries).
 *
 * Every transaction this node's RPC admits is published when it becomes executable (the pool's
 * 'pending' event, as geth announces promoted transactions); transactions from the network are
 * forwarded by gossipsub itself after their ACCEPT.
 */

import { txBytes } from "../../execution/trie/index.ts";
import { TxPoolError, TxPoolErrorCode } from "../../execution/txpool/errors.ts";
import type { TxPool } from "../../execution/txpool/pool.ts";
import type { Logger } from "../../utils/logger.ts";
import { MAX_PAYLOAD_SIZE } from "./encoding.ts";
import { ACCEPT, type GossipRegistry, type GossipValidation, ignore, rawBytes, reject } from "./registry.ts";
import { TopicWeight } from "./scoring.ts";
import { OPENGPU_NAMESPACE } from "./topics.ts";

export const TRANSACTIONS_TOPIC = "transactions";

/** Pool refusals that say nothing about the sender's honesty. */
const POLICY_OR_STATE = new Set<string>([
  TxPoolErrorCode.ALREADY_KNOWN,
  TxPoolErrorCode.OVERSIZED,
  TxPoolErrorCode.UNPROTECTED,
  TxPoolErrorCode.GAS_LIMIT,
  TxPoolErrorCode.NONCE_TOO_LOW,
  TxPoolErrorCode.INSUFFICIENT_FUNDS,
  TxPoolErrorCode.FEE_CAP_TOO_LOW,
  TxPoolErrorCode.UNDERPRICED,
  TxPoolErrorCode.REPLACEMENT_UNDERPRICED,
  TxPoolErrorCode.POOL_FULL,
  TxPoolErrorCode.ACCOUNT_LIMIT,
]);

/** Gossip verdict for a transaction the pool refused. */
export function txPoolErrorVerdict(err: TxPoolError): GossipValidation {
  const reason = err.code.replace(/^TXPOOL_/, "").toLowerCase();
  return POLICY_OR_STATE.has(err.code) ? ignore(reason, err.message) : reject(reason, err.message);
}

/** Registers the transactions topic on `registry`: messages go through `pool`'s admission. */
export function registerTransactionTopic(registry: GossipRegistry, pool: TxPool): void {
  registry.register(TRANSACTIONS_TOPIC, {
    type: rawBytes(MAX_PAYLOAD_SIZE),
    namespace: OPENGPU_NAMESPACE,
    score: { weight: TopicWeight.transactions, expectedMessagesPerSlot: 10, firstMessageDecaySlots: 64 },
    validate: async (raw) => {
      try {
        await pool.addRaw(raw, { local: false });
        return ACCEPT;
      } catch (err) {
        if (err instanceof TxPoolError) return txPoolErrorVerdict(err);
        throw err;
      }
    },
  });
}

/** Publishes each local transaction of `pool` as it becomes executable; returns the unsubscribe. */
export function publishLocalTransactions(registry: GossipRegistry, pool: TxPool, logger: Logger): () => void {
  return pool.on("pending", (ptx) => {
    if (!ptx.local) return;
    registry.publish(TRANSACTIONS_TOPIC, txBytes(ptx.tx)).catch((err: unknown) => {
      logger.warn({ err, hash: ptx.hashHex }, "Could not gossip a transaction");
    });
  });
}
