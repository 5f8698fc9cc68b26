/**
 * Temporary directories of a benchmark run, removed when the process exits (at the end, on an
 * error, and on Ctrl-C or SIGTERM, then exiting with 130 / 143) or earlier with `removeAll`.
 */
import { rmSync } from "node:fs";

const dirs: string[] = [];

/** Removes the directories registered so far, now. */
export function removeAll(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

process.on("exit", removeAll);
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const) {
  process.on(signal, () => {
    removeAll();
    process.exit(code);
  });
}

/** Removes `dir` (recursively) when the process exits. */
export function removeOnExit(dir: string): void {
  dirs.push(dir);
}
