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
  },
});
