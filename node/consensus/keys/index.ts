/**
 * Validator keys: mnemonics and EIP-2333/2334 derivation, EIP-2335 keystores, the node's key
 * directory and deposit data. See each module for what it owns.
 */
export * from "./deposit-data.ts";
export * from "./derivation.ts";
export * from "./errors.ts";
export * from "./key-dir.ts";
export * from "./keystore.ts";
