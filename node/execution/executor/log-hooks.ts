/**
 * Cheap per-EVM notification of LOGn and SELFDESTRUCT, for eth_simulateV1's log tracer.
 *
 * ethereumjs reports these only through its `step` event, which copies the stack and the whole
 * memory at every opcode: several times slower than plain execution, and quadratic in memory
 * size. We wrap the interpreter's `log` and `selfDestruct` methods once, process-wide (as
 * guard.ts wraps `runStep`): an EVM that carries hooks is told about each log as it is
 * appended and each self-destruct before it moves the balance; EVMs without hooks pay one
 * property read per LOG or SELFDESTRUCT.
 *
 * The interpreter class is not part of @ethereumjs/evm's public exports; we load the module the
 * package itself loads (same file URL, so the same class) to reach its prototype.
 */
import type { EVMInterface } from "@ethereumjs/evm";
import type { Address } from "@ethereumjs/util";

export interface InterpreterHooks {
  /** A log was appended by the running frame (it may still be reverted with the frame). */
  onLog(address: Uint8Array, topics: Uint8Array[], data: Uint8Array): void;
  /** SELFDESTRUCT is about to move `value` (the contract's whole balance) to `beneficiary`. */
  onSelfDestruct(contract: Address, beneficiary: Address, value: bigint): void;
}

const HOOKS = Symbol.for("opengpu.evm.interpreterHooks");

interface InterpreterThis {
  _evm: Record<symbol, InterpreterHooks | undefined>;
  _env: { address: Address; contract: { balance: bigint } };
}
type LogFn = (this: InterpreterThis, data: Uint8Array, count: number, topics: Uint8Array[]) => void;
type SelfDestructFn = (this: InterpreterThis, beneficiary: Address) => Promise<void>;

const interpreterUrl = new URL("./interpreter.js", import.meta.resolve("@ethereumjs/evm"));
const { Interpreter } = (await import(interpreterUrl.href)) as {
  Interpreter: { prototype: { log: LogFn; selfDestruct: SelfDestructFn } };
};
if (!(HOOKS in Interpreter.prototype)) {
  const log = Interpreter.prototype.log;
  const selfDestruct = Interpreter.prototype.selfDestruct;
  Interpreter.prototype.log = function (data, count, topics) {
    log.call(this, data, count, topics);
    this._evm[HOOKS]?.onLog(this._env.address.bytes, topics, data);
  };
  Interpreter.prototype.selfDestruct = function (beneficiary) {
    this._evm[HOOKS]?.onSelfDestruct(this._env.address, beneficiary, this._env.contract.balance);
    return selfDestruct.call(this, beneficiary);
  };
  Object.defineProperty(Interpreter.prototype, HOOKS, { value: true });
}

/** Installs `hooks` on `evm` (undefined removes them). */
export function setInterpreterHooks(evm: EVMInterface, hooks: InterpreterHooks | undefined): void {
  (evm as unknown as Record<symbol, InterpreterHooks | undefined>)[HOOKS] = hooks;
}
