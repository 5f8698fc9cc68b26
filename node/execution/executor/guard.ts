/**
 * Time limits and fairness for EVM work done on behalf of RPC callers (eth_call, estimates,
 * traces).
 *
 * ethereumjs' interpreter runs a whole call on the event loop without yielding to I/O, so one
 * expensive eth_call could stall every other request. We wrap the interpreter's `runStep`
 * once, process-wide: for an EVM that carries a guard, every 1,024 steps the guard checks its
 * deadline (throwing `ExecutionTimeoutError`) and every 16,384 steps it yields to the event
 * loop with `setImmediate`. EVMs without a guard (block import and building) pay one property
 * read per step.
 *
 * The interpreter class is not part of @ethereumjs/evm's public exports; we load the module
 * the package itself loads (same file URL, so the same class) to reach its prototype.
 */
import type { EVMInterface } from "@ethereumjs/evm";

export class ExecutionTimeoutError extends Error {
  override name = "ExecutionTimeoutError";
  constructor(ms: number) {
    super(`execution aborted (timeout = ${ms / 1000}s)`);
  }
}

const GUARD = Symbol.for("opengpu.evm.guard");

interface Guard {
  deadline: number;
  timeoutMs: number;
  steps: number;
}

type StepFn = (this: { _evm: Record<symbol, Guard | undefined> }, op: unknown) => Promise<void>;

const interpreterUrl = new URL("./interpreter.js", import.meta.resolve("@ethereumjs/evm"));
const { Interpreter } = (await import(interpreterUrl.href)) as {
  Interpreter: { prototype: { runStep: StepFn } };
};
if (!(GUARD in Interpreter.prototype)) {
  const original = Interpreter.prototype.runStep;
  const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
  const guarded: StepFn = function (op) {
    const guard = this._evm[GUARD];
    if (guard !== undefined && (++guard.steps & 1023) === 0) {
      if (Date.now() > guard.deadline) return Promise.reject(new ExecutionTimeoutError(guard.timeoutMs));
      if ((guard.steps & 16383) === 0) return yieldToLoop().then(() => original.call(this, op));
    }
    return original.call(this, op);
  };
  Interpreter.prototype.runStep = guarded;
  Object.defineProperty(Interpreter.prototype, GUARD, { value: true });
}

/** Runs `fn` with a deadline on `evm`; steps executed after it throw ExecutionTimeoutError. */
export async function withDeadline<T>(
  evm: EVMInterface,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  const target = evm as unknown as Record<symbol, Guard | undefined>;
  target[GUARD] = { deadline: Date.now() + timeoutMs, timeoutMs, steps: 0 };
  try {
    return await fn();
  } finally {
    target[GUARD] = undefined;
  }
}
