#!/usr/bin/env node
// Entry point of the `opengpu` CLI.
//
// The node needs Node.js >= 22.12 (libp2p 3, vitest 5, native TypeScript type stripping).
// `npm run` and `npx` put node_modules/.bin first on PATH, where the `node` package
// installs a Node 24 binary, so `#!/usr/bin/env node` already finds it there. When this
// file is started by an older Node (for example `./bin/opengpu.js` on a Node 20 machine),
// it re-executes itself with that bundled binary instead of failing on syntax.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  const require = createRequire(import.meta.url);
  let bundled;
  try {
    bundled = require.resolve("node/bin/node");
  } catch {
    process.stderr.write(
      `opengpu needs Node.js >= 22.12 (found ${process.versions.node}); run \`npm install\` to get the bundled Node 24\n`,
    );
    process.exit(1);
  }
  const child = spawn(bundled, [new URL(import.meta.url).pathname, ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => child.kill(signal));
  }
  child.on("exit", (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    process.exit(code ?? 1);
  });
} else {
  // Lodestar fixes its preset when @lodestar/params first loads. OpenGPU dev and test networks
  // use the minimal preset; a mainnet-preset network is started with LODESTAR_PRESET=mainnet
  // (the node refuses a network whose preset differs from the loaded one).
  process.env.LODESTAR_PRESET ??= "minimal";
  const { main } = await import("../node/cli/main.ts");
  await main(process.argv.slice(2));
}
