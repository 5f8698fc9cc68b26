/** Helpers for multi-process tests: JSON-RPC and Beacon API calls, and polling a condition. */

export async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

export async function beacon<T>(base: string, path: string): Promise<T> {
  const response = await fetch(`${base}${path}`);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/**
 * Polls `check` (every 500 ms: these nodes run on the wall clock in other processes, there is
 * no in-process event to wait on) until it returns a truthy value; fails after `ms` with the
 * output `context` gives.
 */
export async function until<T>(
  check: () => Promise<T>,
  ms: number,
  context?: () => string,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const tail = context?.().slice(-4000) ?? "";
      throw new Error(
        `condition not met within ${ms} ms${last ? ` (last error: ${(last as Error).message})` : ""}\n${tail}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
