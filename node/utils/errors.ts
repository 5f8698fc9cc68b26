/**
 * Base of every domain error in the node.
 *
 * Each domain (chain, txpool, rpc, genesis, ...) declares its codes as a `const` object
 * (one doc line per code) and a subclass of `OpenGpuError` narrowed to those codes, so
 * callers switch on `err.code` instead of parsing messages.
 */
export class OpenGpuError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly meta: Readonly<Record<string, unknown>>;

  constructor(
    code: Code,
    message: string,
    meta: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.meta = meta;
  }
}

/** The message of any thrown value, for logs and error responses. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
