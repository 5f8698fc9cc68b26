/**
 * GPU hosts only (`npm run gpu:install`): installs onnxruntime's CUDA execution provider from the
 * npm registry, which the default install leaves out (`.npmrc` skips onnxruntime-node's
 * postinstall, whose CUDA download needs a feed outside the registry).
 *
 * The provider comes from `com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9` (MIT; its
 * `libonnxruntime_providers_cuda.so` and `libonnxruntime_providers_shared.so` are built from
 * onnxruntime 1.29.0 for CUDA 13). A provider only loads into the runtime it was built with, so
 * this replaces the installed `onnxruntime-node` and `onnxruntime-common` by 1.29.0 (the
 * environment fingerprint then says `onnxruntime-node@1.29.0`) and puts the provider beside
 * `libonnxruntime.so.1`. `npm ci` undoes it. At run time the provider needs CUDA 13's runtime,
 * cuBLAS and cuRAND and cuDNN 9 on the loader's path (`LD_LIBRARY_PATH`), for instance from the
 * `nvidia-cuda-runtime`, `nvidia-cublas`, `nvidia-curand` and `nvidia-cudnn-cu13` wheels; then
 * `npm run gpu:check` confirms it.
 *
 * Flags: --from DIR  use the three tarballs already in DIR (`npm pack` names) instead of
 *                    fetching them (for hosts without the registry)
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const log = (msg: string) => process.stdout.write(`[gpu:install] ${msg}\n`);

const ORT_VERSION = "1.29.0";
const PROVIDER_PACKAGE = "com.github.asus4.onnxruntime.linux-x64-gpu";
const PROVIDER_VERSION = "0.4.9";
const PACKAGES = [
  { name: "onnxruntime-node", version: ORT_VERSION },
  { name: "onnxruntime-common", version: ORT_VERSION },
  { name: PROVIDER_PACKAGE, version: PROVIDER_VERSION },
];
const PROVIDER_FILES = ["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"];

function fail(message: string): never {
  process.stderr.write(`[gpu:install] error: ${message}\n`);
  process.exit(1);
}

if (process.platform !== "linux" || process.arch !== "x64")
  fail(`the CUDA provider package is built for linux x64, not ${process.platform} ${process.arch}`);

const fromIndex = process.argv.indexOf("--from");
const from = fromIndex < 0 ? undefined : process.argv[fromIndex + 1];
if (fromIndex >= 0 && (from === undefined || !existsSync(from)))
  fail("--from needs a folder holding the tarballs");

/** The installed package's root folder (the one whose package.json names it). */
function packageRoot(name: string): string {
  let dir = dirname(createRequire(import.meta.url).resolve(name));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === name
    )
      return dir;
    const up = dirname(dir);
    if (up === dir) fail(`cannot find the installed ${name}`);
    dir = up;
  }
}

const work = mkdtempSync(join(tmpdir(), "opengpu-gpu-install-"));
try {
  const tarballs: string[] = [];
  for (const p of PACKAGES) {
    const file = `${p.name}-${p.version}.tgz`;
    if (from !== undefined) {
      const path = join(from, file);
      if (!existsSync(path)) fail(`${path} is missing (npm pack ${p.name}@${p.version})`);
      tarballs.push(path);
      continue;
    }
    log(
      `fetching ${p.name}@${p.version} from the npm registry${p.name === PROVIDER_PACKAGE ? " (179 MB)" : ""}`,
    );
    const started = performance.now();
    // npm pack checks the tarball against the registry's integrity hash.
    await run("npm", ["pack", `${p.name}@${p.version}`, "--pack-destination", work, "--silent"], {
      maxBuffer: 1 << 20,
    });
    tarballs.push(join(work, file));
    log(`  done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  const unpacked: string[] = [];
  for (const [i, tarball] of tarballs.entries()) {
    const dir = join(work, `p${i}`);
    mkdirSync(dir);
    await run("tar", ["-xzf", tarball, "-C", dir]);
    unpacked.push(join(dir, "package"));
  }
  const [ortNode, ortCommon, provider] = unpacked;
  const version = (dir: string) =>
    (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
  if (version(ortNode) !== ORT_VERSION || version(ortCommon) !== ORT_VERSION)
    fail(`unpacked onnxruntime is ${version(ortNode)}/${version(ortCommon)}, expected ${ORT_VERSION}`);

  // Only this platform's binaries are kept (the package carries five platforms, 300 MB).
  const napi = join(ortNode, "bin", "napi-v6");
  for (const platform of readdirSync(napi))
    for (const arch of readdirSync(join(napi, platform)))
      if (platform !== "linux" || arch !== "x64") rmSync(join(napi, platform, arch), { recursive: true });
  const binDir = join(napi, "linux", "x64");
  for (const file of PROVIDER_FILES) {
    const src = join(provider, "Plugins", "Linux", "x64", file);
    if (!existsSync(src)) fail(`${PROVIDER_PACKAGE}@${PROVIDER_VERSION} has no ${file}`);
    cpSync(src, join(binDir, file));
  }

  for (const [name, src] of [
    ["onnxruntime-node", ortNode],
    ["onnxruntime-common", ortCommon],
  ] as const) {
    const dest = packageRoot(name);
    rmSync(dest, { recursive: true, force: true });
    cpSync(src, dest, { recursive: true });
    log(`installed ${name}@${ORT_VERSION} in ${dest}`);
  }
  log(
    `CUDA execution provider installed beside libonnxruntime.so.1 in ${join(packageRoot("onnxruntime-node"), "bin", "napi-v6", "linux", "x64")}`,
  );
  log(
    "it needs CUDA 13 (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10) and cuDNN 9 on LD_LIBRARY_PATH;",
  );
  log("check it with `npm run gpu:check`; `npm ci` restores the default CPU-only onnxruntime-node");
} finally {
  rmSync(work, { recursive: true, force: true });
}
