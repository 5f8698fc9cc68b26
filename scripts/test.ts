/**
 * The project's test command (`npm test`, which `.ci/run` calls): lint, type-check, then the
 * vitest suite through its JSON reporter. Ends with one plain line `N passed, M failed` that
 * CI reads, and exits non-zero if anything failed. Lint and type-check count as one check each.
 *
 * Extra arguments go to vitest (e.g. `npm test -- node/execution`).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numFailedTestSuites: number;
  numTotalTestSuites: number;
  success: boolean;
}

const bin = (name: string) => join(process.cwd(), "node_modules", ".bin", name);
let passed = 0;
let failed = 0;

function check(label: string, cmd: string, args: string[]): void {
  process.stdout.write(`\n== ${label}: ${[cmd.split("/").pop(), ...args].join(" ")}\n`);
  const started = Date.now();
  const result = spawnSync(cmd, args, { stdio: "inherit" });
  const ok = result.status === 0;
  process.stdout.write(
    `== ${label} ${ok ? "passed" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  if (ok) passed++;
  else failed++;
}

const extra = process.argv.slice(2);
if (extra.length === 0) {
  check("lint", bin("biome"), ["check", "."]);
  check("typecheck", bin("tsc"), ["--noEmit", "-p", "tsconfig.json"]);
}

/** One vitest run through its JSON reporter; adds its results to the totals. */
function vitest(label: string, args: string[]): void {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-test-"));
  const report = join(dir, "vitest.json");
  process.stdout.write(`\n== ${label}\n`);
  const run = spawnSync(
    bin("vitest"),
    ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...args],
    { stdio: "inherit" },
  );
  let summary: VitestJson | undefined;
  try {
    summary = JSON.parse(readFileSync(report, "utf8")) as VitestJson;
  } catch {
    summary = undefined;
  }
  rmSync(dir, { recursive: true, force: true });
  if (summary === undefined) {
    process.stdout.write(`vitest wrote no report (exit ${run.status})\n`);
    failed++;
    return;
  }
  passed += summary.numPassedTests;
  failed += summary.numFailedTests;
  // A suite that fails to load has no failed tests of its own: count it.
  if (summary.numFailedTests === 0 && (run.status !== 0 || summary.numFailedTestSuites > 0))
    failed += Math.max(1, summary.numFailedTestSuites);
}

if (extra.length > 0) {
  vitest("vitest", extra);
} else {
  vitest("vitest", ["--exclude", "test/multinode/**"]);
  // Multi-node tests run several node processes each on the wall clock: one file at a time, so
  // two devnets never compete for the same cores.
  vitest("vitest (multi-node, one file at a time)", ["test/multinode", "--no-file-parallelism"]);
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
