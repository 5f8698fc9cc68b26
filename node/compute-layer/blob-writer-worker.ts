/**
 * Worker thread of `BlobWriter`: writes blobs into a FileBlobStore directory with synchronous
 * calls, in FileBlobStore's layout and manner (node/p2p/reqresp/blob-store.ts): the file
 * `<dir>/<first 2 hex>/<64 hex>`, written to a temporary name, flushed to disk and renamed, so
 * a blob is complete or absent; a file of the right size already there is kept. The hashes were
 * computed by the sender from these bytes. Input: `{ id, dir, items: [{ hex, bytes }] }`; output:
 * `{ id, errors }`, one entry per item (null when written).
 * Kept free of project imports so it starts fast in any loader.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { parentPort } from "node:worker_threads";

function write(dir: string, hex: string, bytes: Uint8Array): void {
  const sub = join(dir, hex.slice(0, 2));
  const path = join(sub, hex);
  if (statSync(path, { throwIfNoEntry: false })?.size === bytes.length) return;
  mkdirSync(sub, { recursive: true });
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    const fd = openSync(tmp, "w");
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

parentPort?.on(
  "message",
  (message: { id: number; dir: string; items: { hex: string; bytes: Uint8Array }[] }) => {
    const errors = message.items.map(({ hex, bytes }) => {
      try {
        write(message.dir, hex, bytes);
        return null;
      } catch (err) {
        return (err as Error).message;
      }
    });
    parentPort?.postMessage({ id: message.id, errors });
  },
);
