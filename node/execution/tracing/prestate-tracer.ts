/**
 * geth's `prestateTracer`: the accounts a transaction touched as they were before it ran
 * (balance, nonce, code, code hash and the storage slots it read or wrote), or with
 * `diffMode: true` the `{ pre, post }` pair of what changed.
 *
 * An account is touched when it is the sender, recipient (or created contract), the fee
 * recipient or an EIP-7702 authority, or when an opcode names it (BALANCE, EXTCODE*, CALL*,
 * CREATE*, SELFDESTRUCT); a slot when SLOAD or SSTORE names it. Config: `diffMode`,
 * `disableCode`, `disableStorage`, `includeEmpty`.
 */
import {
  Address,
  bigIntToHex,
  bytesToHex,
  equalsBytes,
  generateAddress2,
  KECCAK256_NULL,
} from "@ethereumjs/util";
import { decodeFlags, TraceError, TraceErrorCode } from "./errors.ts";
import {
  createAddress,
  delegationTarget,
  MAX_READ,
  memorySlice,
  Op,
  type OpcodeStep,
  type StateReader,
  stackAddress,
  type TraceJson,
  type Tracer,
  type TxEnd,
  type TxStart,
  word32,
} from "./hooks.ts";

export interface PrestateTracerConfig {
  diffMode: boolean;
  disableCode: boolean;
  disableStorage: boolean;
  includeEmpty: boolean;
}

export function decodePrestateTracerConfig(raw: unknown): PrestateTracerConfig {
  const config = decodeFlags(raw, "native.PrestateTracerConfig", [
    "diffMode",
    "disableCode",
    "disableStorage",
    "includeEmpty",
  ] as const);
  if (config.diffMode && config.includeEmpty) {
    throw new TraceError(TraceErrorCode.INVALID_CONFIG, "cannot use diffMode with includeEmpty");
  }
  return config;
}

interface AccountState {
  address: Address;
  balance?: bigint;
  nonce: bigint;
  code?: Uint8Array;
  codeHash?: Uint8Array;
  /** Slot (0x-hex, 32 bytes) → 32-byte value. */
  storage?: Map<string, Uint8Array>;
  /** The account did not exist before the transaction. */
  empty: boolean;
}

const ZERO_WORD = new Uint8Array(32);

export class PrestateTracer implements Tracer {
  private readonly config: PrestateTracerConfig;
  private readonly pre = new Map<string, AccountState>();
  private readonly post = new Map<string, AccountState>();
  private readonly created = new Set<string>();
  private readonly deleted = new Set<string>();
  private eip6780 = true;
  private eip7702 = true;

  constructor(
    config: PrestateTracerConfig = {
      diffMode: false,
      disableCode: false,
      disableStorage: false,
      includeEmpty: false,
    },
  ) {
    this.config = config;
  }

  async onTxStart(tx: TxStart, state: StateReader): Promise<void> {
    this.eip6780 = tx.eip6780;
    this.eip7702 = tx.eip7702;
    if (tx.isCreate) this.created.add(tx.to.toString());
    else if (tx.eip7702) await this.lookupDelegation(tx.to, state);
    await this.lookupAccount(tx.from, state);
    await this.lookupAccount(tx.to, state);
    await this.lookupAccount(tx.coinbase, state);
    for (const authority of tx.authorities) await this.lookupAccount(authority, state);
  }

  async onOpcode(step: OpcodeStep, state: StateReader): Promise<void> {
    const { stack, op } = step;
    const n = stack.length;
    const caller = step.address;
    if ((op === Op.SLOAD || op === Op.SSTORE) && n >= 1) {
      await this.lookupStorage(caller, word32(stack[n - 1]), state);
    } else if (
      (op === Op.EXTCODECOPY ||
        op === Op.EXTCODEHASH ||
        op === Op.EXTCODESIZE ||
        op === Op.BALANCE ||
        op === Op.SELFDESTRUCT) &&
      n >= 1
    ) {
      await this.lookupAccount(stackAddress(stack[n - 1]), state);
      if (op === Op.SELFDESTRUCT) {
        const key = caller.toString();
        // EIP-6780: only contracts created in the same transaction are deleted.
        if (!this.eip6780 || this.created.has(key)) this.deleted.add(key);
      }
    } else if (
      (op === Op.DELEGATECALL || op === Op.CALL || op === Op.STATICCALL || op === Op.CALLCODE) &&
      n >= 5
    ) {
      const target = stackAddress(stack[n - 2]);
      await this.lookupAccount(target, state);
      if (this.eip7702) await this.lookupDelegation(target, state);
    } else if (op === Op.CREATE) {
      const address = createAddress(caller, await state.nonce(caller));
      await this.lookupAccount(address, state);
      this.created.add(address.toString());
    } else if (op === Op.CREATE2 && n >= 4) {
      const offset = stack[n - 2];
      const size = stack[n - 3];
      if (size > MAX_READ || offset > MAX_READ) return; // the creation fails on gas anyway
      const init = memorySlice(step.memory, offset, size);
      const address = new Address(generateAddress2(caller.bytes, word32(stack[n - 4]), init));
      await this.lookupAccount(address, state);
      this.created.add(address.toString());
    }
  }

  async onTxEnd(_end: TxEnd, state: StateReader): Promise<void> {
    if (this.config.diffMode) await this.processDiffState(state);
    if (this.config.includeEmpty) return;
    // Accounts that did not exist before the transaction are not part of its prestate.
    for (const [key, account] of this.pre) if (account.empty) this.pre.delete(key);
  }

  result(): TraceJson {
    if (this.config.diffMode) return { post: stateJson(this.post), pre: stateJson(this.pre) };
    return stateJson(this.pre);
  }

  private async lookupDelegation(address: Address, state: StateReader): Promise<void> {
    const target = delegationTarget(await state.code(address));
    if (target !== undefined) await this.lookupAccount(target, state);
  }

  private async lookupAccount(address: Address, state: StateReader): Promise<void> {
    const key = address.toString();
    if (this.pre.has(key)) return;
    const balance = await state.balance(address);
    const nonce = await state.nonce(address);
    const code = await state.code(address);
    const account: AccountState = {
      address,
      balance,
      nonce,
      code: code.length > 0 && !this.config.disableCode ? code : undefined,
      codeHash: await state.codeHash(address),
      storage: this.config.disableStorage ? undefined : new Map(),
      empty: nonce === 0n && code.length === 0 && balance === 0n,
    };
    this.pre.set(key, account);
  }

  private async lookupStorage(address: Address, slot: Uint8Array, state: StateReader): Promise<void> {
    if (this.config.disableStorage) return;
    await this.lookupAccount(address, state);
    const storage = this.pre.get(address.toString())?.storage;
    const key = bytesToHex(slot);
    if (storage === undefined || storage.has(key)) return;
    storage.set(key, await state.storage(address, slot));
  }

  /** Keeps in `pre` only what the transaction changed, and records the new values in `post`. */
  private async processDiffState(state: StateReader): Promise<void> {
    for (const [key, pre] of this.pre) {
      // A deleted account's state stays in `pre` and has no `post`.
      if (this.deleted.has(key)) continue;
      const { address } = pre;
      const post: AccountState = { address, nonce: 0n, storage: new Map(), empty: false };
      let modified = false;
      const balance = await state.balance(address);
      if (balance !== pre.balance) {
        modified = true;
        post.balance = balance;
      }
      const nonce = await state.nonce(address);
      if (nonce !== pre.nonce) {
        modified = true;
        post.nonce = nonce;
      }
      const codeHash = (await state.codeHash(address)) ?? KECCAK256_NULL;
      if (!equalsBytes(codeHash, pre.codeHash ?? KECCAK256_NULL)) {
        modified = true;
        post.codeHash = codeHash;
      }
      if (!this.config.disableCode) {
        const code = await state.code(address);
        if (!equalsBytes(code, pre.code ?? new Uint8Array(0))) {
          modified = true;
          post.code = code;
        }
      }
      if (!this.config.disableStorage && pre.storage !== undefined) {
        for (const [slotKey, value] of [...pre.storage]) {
          if (equalsBytes(value, ZERO_WORD)) pre.storage.delete(slotKey);
          const now = await state.storage(address, hexSlot(slotKey));
          if (equalsBytes(now, value)) {
            pre.storage.delete(slotKey);
          } else {
            modified = true;
            if (!equalsBytes(now, ZERO_WORD)) post.storage?.set(slotKey, now);
          }
        }
      }
      if (modified) this.post.set(key, post);
      else this.pre.delete(key);
    }
  }
}

function hexSlot(key: string): Uint8Array {
  return Buffer.from(key.slice(2), "hex");
}

/** geth's stateMap JSON: accounts and slots sorted, empty fields omitted. */
function stateJson(accounts: Map<string, AccountState>): TraceJson {
  const out: { [key: string]: TraceJson } = {};
  for (const key of [...accounts.keys()].sort()) {
    const a = accounts.get(key);
    if (a === undefined) continue;
    const entry: { [key: string]: TraceJson } = {};
    if (a.balance !== undefined) entry.balance = bigIntToHex(a.balance);
    if (a.code !== undefined) entry.code = bytesToHex(a.code);
    if (a.codeHash !== undefined) entry.codeHash = bytesToHex(a.codeHash);
    if (a.nonce !== 0n) entry.nonce = Number(a.nonce);
    if (a.storage !== undefined && a.storage.size > 0) {
      const storage: { [key: string]: TraceJson } = {};
      for (const slot of [...a.storage.keys()].sort())
        storage[slot] = bytesToHex(a.storage.get(slot) ?? ZERO_WORD);
      entry.storage = storage;
    }
    out[key] = entry;
  }
  return out;
}
