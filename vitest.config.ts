import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["node/**/*.test.ts", "genesis/**/*.test.ts", "precompiles/**/*.test.ts", "test/**/*.test.ts"],
    // Integration tests start real servers and LevelDB instances; on a 2-core machine
    // more than two forks only adds contention.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Lodestar reads its preset when @lodestar/params first loads: dev and test networks use
    // the minimal preset.
    env: { LODESTAR_PRESET: "minimal" },
  },
});
