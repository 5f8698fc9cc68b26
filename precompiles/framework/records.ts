/**
 * Typed records in system-contract storage: fixed word fields at consecutive slots, and
 * ABI-encoded values (structs with strings and arrays) stored as variable-length bytes.
 */
import type { Address } from "@ethereumjs/util";
import {
  type AbiParameter,
  type AbiParameterToPrimitiveType,
  bytesToHex,
  decodeAbiParameters,
  encodeAbiParameters,
  type Hex,
  hexToBytes,
} from "viem";
import { offset, type SlotKey, slotOf } from "./storage.ts";
import type { SystemCall } from "./system-call.ts";

/** Word fields of one record kind: `fields.slot(key, "state")`. */
export class Fields<F extends string> {
  private readonly tag: string;
  private readonly index: ReadonlyMap<F, number>;

  constructor(tag: string, names: readonly F[]) {
    this.tag = tag;
    this.index = new Map(names.map((n, i) => [n, i]));
  }

  slot(keys: SlotKey | readonly SlotKey[], field: F): Uint8Array {
    const base = slotOf(this.tag, ...(Array.isArray(keys) ? keys : [keys as SlotKey]));
    return offset(base, this.index.get(field) ?? 0);
  }
}

/** Stores `value` ABI-encoded as `param` at `slot` of `address`. */
export async function storeAbi<const P extends AbiParameter>(
  call: SystemCall,
  address: Address,
  slot: Uint8Array,
  param: P,
  value: AbiParameterToPrimitiveType<P>,
): Promise<void> {
  const encoded = encodeAbiParameters([param] as readonly AbiParameter[], [value]);
  await call.storeBytes(address, slot, hexToBytes(encoded));
}

/** The value stored by `storeAbi`, or undefined when nothing is stored there. */
export async function loadAbi<const P extends AbiParameter>(
  call: SystemCall,
  address: Address,
  slot: Uint8Array,
  param: P,
): Promise<AbiParameterToPrimitiveType<P> | undefined> {
  const bytes = await call.loadBytes(address, slot);
  if (bytes.length === 0) return undefined;
  const [value] = decodeAbiParameters([param] as readonly AbiParameter[], bytesToHex(bytes) as Hex);
  return value as AbiParameterToPrimitiveType<P>;
}

/** The (single) output parameter of function `name` in `abi`: a struct's ABI type. */
export function outputParam<const A extends readonly unknown[]>(abi: A, name: string): AbiParameter {
  for (const item of abi as readonly { type: string; name?: string; outputs?: readonly AbiParameter[] }[]) {
    if (item.type === "function" && item.name === name && item.outputs?.length === 1) return item.outputs[0];
  }
  throw new Error(`no single-output function ${name}`);
}
