/**
 * Worker thread of `BlobWriter`: writes blobs into a FileBlobStore directory with synchronous
 * calls, in FileBlobStore's layout and manner (node/p2p/reqresp/blob-store.ts): the file
 * `<dir>/<first 2 hex>/<64 hex>`, written to a temporary name, flushed to disk when the blob
 * asks for it (`sync`) and renamed, so a blob is complete or absent; a file of the right size
 * already there is kept. The hashes were computed by the sender from these bytes.
 *
 * An item with a `segment` (`{ path, position, header }`, from FileBlobStore.reserveSegment) is
 * instead written as a segment record: header and bytes at that position of that file, one
 * `writev`, never flushed.
 *
 * Group commit: every message waiting when one arrives is taken at once; their blobs are all
 * written, then the ones to flush are flushed, then all are renamed. Input:
 * `{ id, dir, items: [{ hex, bytes, sync, segment? }] }`; output: `{ id, errors }` per message,
 * one entry per item (null when written). Kept free of project imports so it starts fast in any
 * loader.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fdatasyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  writevSync,
} from "node:fs";
import { join } from "node:path";
import { parentPort, receiveMessageOnPort } from "node:worker_threads";

interface Item {
  hex: string;
  bytes: Uint8Array;
  sync: boolean;
  segment?: { path: string; position: number; header: Uint8Array };
}
interface Message {
  id: number;
  dir: string;
  items: Item[];
}

/** One blob's write in progress: its temporary file (open until flushed) and final path. */
interface Open {
  error: string | null;
  fd?: number;
  tmp?: string;
  path?: string;
}

/** Segment files open during one group (closed at its end). */
const segmentFds = new Map<string, number>();

function appendRecord({ bytes, segment }: Item): Open {
  try {
    const { path, position, header } = segment!;
    let fd = segmentFds.get(path);
    if (fd === undefined) {
      fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o644);
      segmentFds.set(path, fd);
    }
    const total = header.length + bytes.length;
    let done = writevSync(fd, [header, bytes], position);
    // A short write (rare): the rest of the record, byte range by byte range.
    while (done < total) {
      const [buf, at] = done < header.length ? [header, done] : [bytes, done - header.length];
      done += writeSync(fd, buf, at, buf.length - at, position + done);
    }
    return { error: null };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function begin(dir: string, item: Item): Open {
  if (item.segment !== undefined) return appendRecord(item);
  const { hex, bytes } = item;
  const sub = join(dir, hex.slice(0, 2));
  const path = join(sub, hex);
  let fd: number | undefined;
  let tmp: string | undefined;
  try {
    if (statSync(path, { throwIfNoEntry: false })?.size === bytes.length) return { error: null };
    mkdirSync(sub, { recursive: true });
    tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
    fd = openSync(tmp, "w");
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    return { error: null, fd, tmp, path };
  } catch (err) {
    abort({ error: null, fd, tmp });
    return { error: (err as Error).message };
  }
}

function abort(w: Open): void {
  if (w.fd !== undefined) closeSync(w.fd);
  if (w.tmp !== undefined) rmSync(w.tmp, { force: true });
  w.fd = undefined;
  w.tmp = undefined;
}

function finish(w: Open, sync: boolean): void {
  if (w.fd === undefined) return;
  try {
    if (sync) fdatasyncSync(w.fd);
    closeSync(w.fd);
    w.fd = undefined;
    renameSync(w.tmp!, w.path!);
    w.tmp = undefined;
  } catch (err) {
    w.error = (err as Error).message;
    try {
      abort(w);
    } catch {
      // the error above is the one reported
    }
  }
}

function writeAll(messages: Message[]): void {
  const opened = messages.map((m) => m.items.map((item) => begin(m.dir, item)));
  // Flushed after all were written: one journal commit can carry several files.
  for (const [i, m] of messages.entries())
    for (const [j, item] of m.items.entries()) finish(opened[i][j], item.sync);
  for (const fd of segmentFds.values())
    try {
      closeSync(fd);
    } catch {
      // written already; nothing to report
    }
  segmentFds.clear();
  for (const [i, m] of messages.entries())
    parentPort?.postMessage({ id: m.id, errors: opened[i].map((w) => w.error) });
}

parentPort?.on("message", (first: Message) => {
  const messages = [first];
  for (;;) {
    const next = parentPort === null ? undefined : receiveMessageOnPort(parentPort);
    if (next === undefined) break;
    messages.push(next.message as Message);
  }
  writeAll(messages);
});
