/** Transaction pool: admission, pending/queued sets, journal, and the builder's transaction source. */
export { TxPoolError, TxPoolErrorCode } from "./errors.ts";
export { effectiveTip, type PoolTx, TxPool, type TxPoolOptions } from "./pool.ts";
