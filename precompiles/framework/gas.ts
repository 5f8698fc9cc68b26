/**
 * Gas schedule of the native system contracts. Precompiles are not metered opcode by opcode, so
 * each operation is charged what the equivalent EVM code would cost at least (Berlin/Prague
 * cold-access prices, no refunds), which keeps them from being cheaper denial-of-service
 * targets than ordinary contracts.
 */
export const SYSTEM_GAS = {
  /** Every call (decoding, dispatch). */
  call: 2_600n,
  /** Reading one storage word (cold SLOAD). */
  load: 2_100n,
  /** Writing a word that was zero. */
  storeNew: 20_000n,
  /** Writing a word that was not zero (including clearing it). */
  storeUpdate: 5_000n,
  /** LOG: base, per topic, per data byte. */
  log: 375n,
  logTopic: 375n,
  logByte: 8n,
  /** Moving value to an account (CALL with value). */
  transfer: 9_000n,
  /** One BLS pairing check (a signature or an aggregate over one message). */
  blsVerify: 120_000n,
  /** Each public key added to an aggregate. */
  blsAggregateKey: 1_500n,
  /** Hashing: per 32-byte word. */
  hashWord: 6n,
} as const;
