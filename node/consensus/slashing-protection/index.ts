/**
 * Slashing protection for the node's own validators: the LevelDB-backed store (`store.ts`), the
 * EIP-3076 interchange format (`interchange.ts`) and their typed errors.
 */
export * from "./errors.ts";
export * from "./interchange.ts";
export * from "./store.ts";
