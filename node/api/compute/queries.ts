/**
 * The compute layer's read side for clients, shared by JSON-RPC (`opengpu_`) and REST
 * (`/opengpu/v1`): single records and paginated, filtered listings of tasks, bids, providers and
 * models at the execution layer's head, and blob upload and download. Transports decode their
 * own parameters (hex quantities or decimal strings) and format the records (format.ts).
 *
 * Pagination is by cursor: tasks newest first (the cursor is the id of the first task of the
 * page, the answer's `nextCursor` the id of the first task of the next page), providers and
 * models in registration order (the cursor is the 0-based registration index). `limit` is 1 to
 * `MAX_LIMIT` (default `DEFAULT_LIMIT`). Unfiltered pages read only their own records; filtered
 * ones select from a `ContractIndex` kept current from the chain's logs, then read the
 * selected records.
 */
import { hexToBytes } from "viem";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../../precompiles/addresses.ts";
import type { Model } from "../../../precompiles/model-registry/index.ts";
import type { ProviderView } from "../../../precompiles/provider-registry/index.ts";
import type { Bid, Task } from "../../../precompiles/task-market/index.ts";
import { ComputeError, ComputeErrorCode, type ComputeLayer } from "../../compute-layer/index.ts";
import { type Hex, isHex32 } from "../../compute-layer/runtime/tensor.ts";
import type { Blockchain } from "../../execution/chain/blockchain.ts";
import { ContractIndex } from "./contract-index.ts";
import { ComputeApiError, ComputeApiErrorCode, invalidParams, limitExceeded, notFound } from "./errors.ts";
import { PROVIDER_STATUSES, type ProviderStatusName, TASK_STATES, type TaskStateName } from "./format.ts";
import { BlobUploads, type UploadProgress } from "./uploads.ts";

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;
/** Largest blob returned by one `getBlob` (whole, or one range). */
export const MAX_BLOB_READ = 8 * 1024 * 1024;

export interface TaskFilter {
  states?: ReadonlySet<number>;
  client?: string;
  provider?: string;
}

export interface PageRequest {
  cursor?: bigint;
  limit?: number;
}

export interface Page<T> {
  items: T[];
  /** Cursor of the next page; undefined on the last page. */
  nextCursor: bigint | undefined;
  /** Records registered in all (unfiltered). */
  total: bigint;
}

interface TaskEntry {
  state: number;
  client: string;
  provider: string;
}

interface ProviderEntry {
  status: number;
  jailedUntil: bigint;
}

const ZERO_ADDRESS = `0x${"00".repeat(20)}`;
const topicUint = (topic: Uint8Array) => BigInt(`0x${Buffer.from(topic).toString("hex") || "0"}`);
const topicAddress = (topic: Uint8Array) => `0x${Buffer.from(topic.subarray(12)).toString("hex")}`;

/** A task state by name (`Settled`, case-insensitive) or code. */
export function parseTaskState(value: string): number {
  const i = TASK_STATES.findIndex((s) => s.toLowerCase() === value.trim().toLowerCase());
  if (i > 0) return i;
  throw invalidParams(
    `unknown task state ${JSON.stringify(value)} (one of ${TASK_STATES.slice(1).join(", ")})`,
  );
}

/** A provider status by name (`Active`, case-insensitive). */
export function parseProviderStatus(value: string): number {
  const i = PROVIDER_STATUSES.findIndex((s) => s.toLowerCase() === value.trim().toLowerCase());
  if (i > 0) return i;
  throw invalidParams(
    `unknown provider status ${JSON.stringify(value)} (one of ${PROVIDER_STATUSES.slice(1).join(", ")})`,
  );
}

/** A 20-byte 0x address, lowercased. */
export function parseAddress(value: string, what: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value))
    throw invalidParams(`${what} must be a 20-byte 0x address, got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

/** A sha256 as 0x and 64 hex digits, lowercased. */
export function parseSha256(value: string, what: string): Hex {
  const lower = value.toLowerCase();
  if (!isHex32(lower))
    throw invalidParams(`${what} must be a sha256: 0x and 64 hex digits, got ${JSON.stringify(value)}`);
  return lower;
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw invalidParams(`limit must be 1 to ${MAX_LIMIT}, got ${limit}`);
  return limit;
}

/** Maps a view-call failure: a revert of a lookup is "not found", anything else a failure. */
function viewError(err: unknown, notFoundMessage: string): Error {
  if (err instanceof ComputeApiError) return err;
  if (err instanceof ComputeError && err.code === ComputeErrorCode.NOT_FOUND)
    return notFound(notFoundMessage);
  return new ComputeApiError(
    ComputeApiErrorCode.FAILED,
    (err as Error).message ?? String(err),
    {},
    { cause: err },
  );
}

export class ComputeQueries {
  readonly uploads: BlobUploads;
  private readonly compute: ComputeLayer;
  private readonly tasks: ContractIndex<TaskEntry>;
  private readonly providers: ContractIndex<ProviderEntry>;

  constructor(opts: { datadir: string }, modules: { compute: ComputeLayer; chain: Blockchain }) {
    this.compute = modules.compute;
    const view = modules.compute.view;
    this.uploads = new BlobUploads({ datadir: opts.datadir }, modules.compute.blobs);
    this.tasks = new ContractIndex<TaskEntry>(modules.chain, {
      contract: SYSTEM_CONTRACT_ADDRESSES.taskMarket,
      keyOfLog: (topics) => (topics.length > 1 ? topicUint(topics[1]).toString() : undefined),
      count: () => view.taskCount(),
      keyAt: async (index) => (index + 1n).toString(),
      read: async (key) => {
        const t = await this.readOptional(() => view.task(BigInt(key)));
        return t === undefined
          ? undefined
          : { state: t.state, client: t.client.toLowerCase(), provider: t.provider.toLowerCase() };
      },
    });
    this.providers = new ContractIndex<ProviderEntry>(modules.chain, {
      contract: SYSTEM_CONTRACT_ADDRESSES.providerRegistry,
      keyOfLog: (topics) => (topics.length > 1 ? topicAddress(topics[1]) : undefined),
      count: () => view.providerCount(),
      keyAt: async (index) => (await view.providerAt(index)).toLowerCase(),
      read: async (key) => {
        const p = await this.readOptional(() => view.provider(key as Hex));
        return p === undefined ? undefined : { status: p.status, jailedUntil: p.jailedUntil };
      },
      // A jailed provider's status changes when the head passes the end of its jail.
      stale: (e, timestamp) => e.status === 2 && timestamp >= e.jailedUntil,
    });
  }

  close(): void {
    this.tasks.close();
    this.providers.close();
    this.uploads.close();
  }

  private async readOptional<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (err) {
      if (err instanceof ComputeError && err.code === ComputeErrorCode.NOT_FOUND) return undefined;
      throw err;
    }
  }

  // --- tasks -----------------------------------------------------------------------------------

  async taskCount(): Promise<bigint> {
    try {
      return await this.compute.view.taskCount();
    } catch (err) {
      throw viewError(err, "task market unavailable");
    }
  }

  async task(id: bigint): Promise<Task> {
    const count = await this.taskCount();
    if (id < 1n || id > count)
      throw notFound(`task ${id} not found (${count === 0n ? "no tasks yet" : `tasks are 1 to ${count}`})`, {
        id: id.toString(),
      });
    try {
      return await this.compute.view.task(id);
    } catch (err) {
      throw viewError(err, `task ${id} not found`);
    }
  }

  async bids(id: bigint): Promise<readonly Bid[]> {
    await this.task(id);
    try {
      return await this.compute.view.bids(id);
    } catch (err) {
      throw viewError(err, `task ${id} not found`);
    }
  }

  /** Tasks newest first; `cursor` is the id to start at (inclusive). */
  async listTasks(filter: TaskFilter, page: PageRequest): Promise<Page<Task>> {
    const limit = checkLimit(page.limit);
    if (page.cursor !== undefined && page.cursor < 1n)
      throw invalidParams("cursor must be a task id (1 or more)");
    const total = await this.taskCount();
    const start = page.cursor === undefined || page.cursor > total ? total : page.cursor;
    const filtered =
      filter.states !== undefined || filter.client !== undefined || filter.provider !== undefined;
    const ids: bigint[] = [];
    let nextCursor: bigint | undefined;
    if (!filtered) {
      for (let id = start; id >= 1n && ids.length < limit; id--) ids.push(id);
      const last = ids.at(-1);
      nextCursor = last !== undefined && last > 1n ? last - 1n : undefined;
    } else {
      await this.tasks.refresh();
      const keys = this.tasks.all();
      for (let i = Math.min(Number(start), keys.length) - 1; i >= 0; i--) {
        const e = this.tasks.entry(keys[i]);
        if (e === undefined || !matches(e, filter)) continue;
        if (ids.length === limit) {
          nextCursor = BigInt(keys[i]);
          break;
        }
        ids.push(BigInt(keys[i]));
      }
    }
    const tasks = await Promise.all(ids.map((id) => this.readOptional(() => this.compute.view.task(id))));
    const items = tasks.filter(
      (t): t is Task =>
        t !== undefined &&
        (!filtered ||
          matches(
            { state: t.state, client: t.client.toLowerCase(), provider: t.provider.toLowerCase() },
            filter,
          )),
    );
    return { items, nextCursor, total };
  }

  /** Tasks by state name, every state listed (the tasks-by-state metric). */
  async taskStateCounts(): Promise<Record<TaskStateName, number>> {
    await this.tasks.refresh();
    const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskStateName, number>;
    for (const key of this.tasks.all()) {
      const e = this.tasks.entry(key);
      if (e !== undefined) counts[TASK_STATES[e.state] ?? "None"] += 1;
    }
    return counts;
  }

  // --- providers -------------------------------------------------------------------------------

  async provider(address: string): Promise<ProviderView> {
    try {
      return await this.compute.view.provider(address as Hex);
    } catch (err) {
      throw viewError(err, `provider ${address} is not registered`);
    }
  }

  /** Providers in registration order; `cursor` is the registration index to start at. */
  async listProviders(
    filter: { statuses?: ReadonlySet<number> },
    page: PageRequest,
  ): Promise<Page<ProviderView>> {
    const limit = checkLimit(page.limit);
    const view = this.compute.view;
    let total: bigint;
    try {
      total = await view.providerCount();
    } catch (err) {
      throw viewError(err, "provider registry unavailable");
    }
    const start = page.cursor ?? 0n;
    const addresses: string[] = [];
    let nextCursor: bigint | undefined;
    if (filter.statuses === undefined) {
      for (let i = start; i < total && addresses.length < limit; i++) {
        try {
          addresses.push(await view.providerAt(i));
        } catch (err) {
          throw viewError(err, `no provider at index ${i}`);
        }
      }
      const end = start + BigInt(addresses.length);
      nextCursor = end < total ? end : undefined;
    } else {
      await this.providers.refresh();
      const keys = this.providers.all();
      for (let i = Number(start); i < keys.length; i++) {
        const e = this.providers.entry(keys[i]);
        if (e === undefined || !filter.statuses.has(e.status)) continue;
        if (addresses.length === limit) {
          nextCursor = BigInt(i);
          break;
        }
        addresses.push(keys[i]);
      }
    }
    const providers = await Promise.all(
      addresses.map((a) => this.readOptional(() => view.provider(a as Hex))),
    );
    const items = providers.filter(
      (p): p is ProviderView =>
        p !== undefined && (filter.statuses === undefined || filter.statuses.has(p.status)),
    );
    return { items, nextCursor, total };
  }

  // --- models ----------------------------------------------------------------------------------

  async model(sha256: Hex): Promise<Model> {
    try {
      return await this.compute.view.model(sha256);
    } catch (err) {
      throw viewError(err, `model ${sha256} is not registered`);
    }
  }

  /** Models in registration order; `cursor` is the registration index to start at. */
  async listModels(page: PageRequest): Promise<Page<Model>> {
    const limit = checkLimit(page.limit);
    const view = this.compute.view;
    let total: bigint;
    try {
      total = await view.modelCount();
    } catch (err) {
      throw viewError(err, "model registry unavailable");
    }
    const start = page.cursor ?? 0n;
    const items: Model[] = [];
    try {
      for (let i = start; i < total && items.length < limit; i++)
        items.push(await view.model(await view.modelAt(i)));
    } catch (err) {
      throw viewError(err, "model registry changed during the listing: try again");
    }
    const end = start + BigInt(items.length);
    return { items, nextCursor: end < total ? end : undefined, total };
  }

  // --- blobs -----------------------------------------------------------------------------------

  /** Stores a blob; returns its sha256. */
  async putBlob(bytes: Uint8Array): Promise<Hex> {
    if (bytes.length === 0) throw invalidParams("empty blob");
    if (bytes.length > this.uploads.maxBlobBytes)
      throw limitExceeded(
        `blob of ${bytes.length} bytes is above the ${this.uploads.maxBlobBytes}-byte limit`,
      );
    return this.compute.blobs.put(bytes);
  }

  putBlobPart(sha256: Hex, size: number, offset: number, part: Uint8Array): Promise<UploadProgress> {
    return this.uploads.put(sha256, size, offset, part);
  }

  /**
   * A blob, or bytes `[offset, offset + length)` of it: from the local store, else fetched from
   * connected peers (and kept). At most MAX_BLOB_READ bytes per call.
   */
  async getBlob(sha256: Hex, range?: { offset: bigint; length?: bigint }): Promise<Uint8Array> {
    const hash = hexToBytes(sha256);
    const store = this.compute.blobs.store;
    let size = await store.size(hash);
    if (size === undefined) {
      try {
        size = (await this.compute.blobs.get(sha256)).length;
      } catch (err) {
        if (err instanceof ComputeError && err.code === ComputeErrorCode.NOT_FOUND)
          throw notFound(err.message);
        throw err;
      }
    }
    if (range === undefined) {
      if (size > MAX_BLOB_READ)
        throw limitExceeded(
          `blob ${sha256} is ${size} bytes, above the ${MAX_BLOB_READ} bytes one call returns: read it in ranges (offset, length)`,
          { size, max: MAX_BLOB_READ },
        );
      // Whole blobs are checked against their hash (a corrupt local copy is fetched again).
      return this.compute.blobs.get(sha256);
    }
    const length = range.length ?? BigInt(Math.min(MAX_BLOB_READ, Math.max(0, size - Number(range.offset))));
    if (range.offset > BigInt(size))
      throw invalidParams(`offset ${range.offset} is past the end of blob ${sha256} (${size} bytes)`, {
        size,
      });
    if (length > BigInt(MAX_BLOB_READ))
      throw limitExceeded(`length ${length} is above the ${MAX_BLOB_READ} bytes one call returns`, {
        size,
        max: MAX_BLOB_READ,
      });
    if (range.offset + length > BigInt(size))
      throw invalidParams(
        `range [${range.offset}, ${range.offset + length}) runs past blob ${sha256} (${size} bytes)`,
        {
          size,
        },
      );
    return store.read(hash, Number(range.offset), Number(length));
  }
}

function matches(e: TaskEntry, f: TaskFilter): boolean {
  return (
    (f.states === undefined || f.states.has(e.state)) &&
    (f.client === undefined || e.client === f.client) &&
    (f.provider === undefined || (e.provider !== ZERO_ADDRESS && e.provider === f.provider))
  );
}

export type { ProviderStatusName };
