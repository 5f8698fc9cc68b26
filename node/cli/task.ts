/**
 * `opengpu task submit|status|result|cancel`: a client's side of the compute market, talking to
 * any node over JSON-RPC (`--rpc`).
 *
 * `submit` takes the model as an ONNX file (hashed, its tensor interface read from the file,
 * registered in the ModelRegistry when it is not, its bytes uploaded to the node so providers
 * fetch them over p2p) or as the sha256 of a registered model; the input as `.npy` files or raw
 * little-endian float32 with `--input-shape`, encoded as the canonical tensor set named after
 * the model's inputs (its sha256 is the task's inputHash), carried inline when it fits the
 * market's `maxInlineInput`, else uploaded. `result` downloads the output by its commitment,
 * checks the hash and writes `.npy` (one output tensor) or the canonical encoding.
 */
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { type Hex, parseEventLogs } from "viem";
import type { PrivateKeyAccount } from "viem/accounts";
import { formatOgpu } from "../../genesis/token.ts";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../precompiles/addresses.ts";
import { MODEL_REGISTRY_ABI } from "../../precompiles/model-registry/abi.ts";
import { TASK_MARKET_ABI } from "../../precompiles/task-market/abi.ts";
import { PAYMENT_KINDS, TASK_STATES, VERDICTS } from "../api/compute/format.ts";
import {
  type CanonicalTensor,
  ComputeRuntimeError,
  checkInputs,
  DTYPE_CODE,
  decodeCanonical,
  defaultPolicyFor,
  dtypeOfCode,
  encodeCanonical,
  type OnChainPolicy,
  parseShape,
  policyFromOnChain,
  policyToOnChain,
  readModelSpec,
  readNpy,
  readRawFloat32,
  sha256Hex,
  type TensorSpec,
  type VerificationPolicy,
  validatePolicy,
  writeNpy,
} from "../compute-layer/runtime/index.ts";
import {
  action,
  amountOption,
  type ClientOpts,
  ComputeCliError,
  ComputeCliErrorCode,
  clientOptions,
  explain,
  NodeClient,
  Output,
  ogpu,
  readInputFile,
  requireSigner,
  writeFileAtomic,
} from "./compute-client.ts";
import { parseInteger } from "./options.ts";

const TASK_MARKET = SYSTEM_CONTRACT_ADDRESSES.taskMarket as Hex;
const MODEL_REGISTRY = SYSTEM_CONTRACT_ADDRESSES.modelRegistry as Hex;
const ZERO_HASH = `0x${"00".repeat(32)}`;
const ZERO_ADDRESS = `0x${"00".repeat(20)}`;
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** Default windows (seconds): bidding, then the provider's execution. */
const DEFAULT_BIDDING_WINDOW = 12;
const DEFAULT_EXECUTION_TIMEOUT = 120;
/** Default deadline: an hour, or the protocol's windows plus a minute when they need longer. */
const DEFAULT_DEADLINE = 3600;

const invalid = (message: string) => new ComputeCliError(ComputeCliErrorCode.INVALID_ARGUMENT, message);

type MarketParams = Awaited<ReturnType<typeof readParams>>;

function readParams(node: NodeClient) {
  return node.public
    .readContract({ address: TASK_MARKET, abi: TASK_MARKET_ABI, functionName: "params" })
    .catch((err: unknown) => {
      throw explain(err, "TaskMarket.params", ComputeCliErrorCode.RPC);
    });
}

export function parseTaskId(value: string): bigint {
  const text = value.trim();
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text))
    throw new InvalidArgumentError("a task id is a positive integer (decimal, or 0x hex)");
  const id = BigInt(text);
  if (id < 1n || id >= 2n ** 256n) throw new InvalidArgumentError("a task id is a positive integer");
  return id;
}

/** A task by id; an unknown id is NOT_FOUND with the range of known ids. */
async function readTask(node: NodeClient, id: bigint) {
  const read = async () => {
    const count = await node.public.readContract({
      address: TASK_MARKET,
      abi: TASK_MARKET_ABI,
      functionName: "taskCount",
    });
    if (id > count)
      throw new ComputeCliError(
        ComputeCliErrorCode.NOT_FOUND,
        `task ${id} not found (${count === 0n ? "no tasks yet" : `tasks are 1 to ${count}`})`,
      );
    return node.public.readContract({
      address: TASK_MARKET,
      abi: TASK_MARKET_ABI,
      functionName: "getTask",
      args: [id],
    });
  };
  try {
    return await read();
  } catch (err) {
    throw explain(err, `task ${id}`, ComputeCliErrorCode.NOT_FOUND);
  }
}

type Task = Awaited<ReturnType<typeof readTask>>;

// --- policies -------------------------------------------------------------------------------

/** `exact`, `int8-exact` or `tolerance:RTOL:ATOL:TOPK` (e.g. tolerance:1e-3:1e-5:1). */
export function parsePolicy(text: string): VerificationPolicy {
  const t = text.trim();
  let policy: VerificationPolicy;
  if (t === "exact" || t === "int8-exact") policy = { kind: t };
  else {
    const m = /^tolerance:([^:]+):([^:]+):([^:]+)$/.exec(t);
    if (m === null)
      throw invalid(
        `--policy ${JSON.stringify(text)}: expected exact, int8-exact or tolerance:RTOL:ATOL:TOPK (e.g. tolerance:1e-3:1e-5:1)`,
      );
    const [rtol, atol, topK] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (
      m.slice(1).some((x) => x.trim() === "") ||
      Number.isNaN(rtol) ||
      Number.isNaN(atol) ||
      Number.isNaN(topK)
    )
      throw invalid(`--policy ${JSON.stringify(text)}: RTOL, ATOL and TOPK must be numbers`);
    policy = { kind: "tolerance", rtol, atol, topK };
  }
  try {
    return validatePolicy(policy);
  } catch (err) {
    throw invalid(`--policy ${JSON.stringify(text)}: ${(err as Error).message}`);
  }
}

/** The policy as the CLI writes it: `exact`, `int8-exact`, `tolerance:RTOL:ATOL:TOPK`. */
export function policyText(p: OnChainPolicy): string {
  try {
    const policy = policyFromOnChain(p);
    return policy.kind === "tolerance"
      ? `tolerance:${policy.rtol}:${policy.atol}:${policy.topK}`
      : policy.kind;
  } catch {
    return `unknown(kind ${p.kind})`;
  }
}

// --- models and inputs ----------------------------------------------------------------------

interface ResolvedModel {
  sha256: Hex;
  inputs: TensorSpec[];
  policy: OnChainPolicy;
  /** Registered by this command. */
  registered: boolean;
  /** Bytes uploaded to the node by this command. */
  uploaded: boolean;
}

async function registeredModel(node: NodeClient, sha256: Hex) {
  try {
    const known = await node.public.readContract({
      address: MODEL_REGISTRY,
      abi: MODEL_REGISTRY_ABI,
      functionName: "isRegistered",
      args: [sha256],
    });
    if (!known) return undefined;
    return await node.public.readContract({
      address: MODEL_REGISTRY,
      abi: MODEL_REGISTRY_ABI,
      functionName: "getModel",
      args: [sha256],
    });
  } catch (err) {
    throw explain(err, `model ${sha256}`, ComputeCliErrorCode.RPC);
  }
}

function specsOf(tensors: readonly { name: string; dtype: number; dims: readonly bigint[] }[]): TensorSpec[] {
  return tensors.map((t) => {
    const dtype = dtypeOfCode(t.dtype);
    if (dtype === undefined)
      throw invalid(`the registered model's tensor ${t.name} has an unknown dtype ${t.dtype}`);
    return { name: t.name, dtype, dims: t.dims.map((d) => Number(d)) };
  });
}

function onChainSpec(t: TensorSpec, role: string) {
  if (t.dims === null)
    throw invalid(
      `the model's ${role} ${JSON.stringify(t.name)} declares no shape; the model registry needs one (export the model with a shape, -1 for dynamic dimensions)`,
    );
  return { name: t.name, dtype: DTYPE_CODE[t.dtype], dims: t.dims.map((d) => BigInt(d)) };
}

async function resolveModel(
  node: NodeClient,
  account: PrivateKeyAccount,
  value: string,
  name: string | undefined,
  out: Output,
): Promise<ResolvedModel> {
  if (/^0x[0-9a-fA-F]{64}$/.test(value) && !existsSync(value)) {
    const sha256 = value.toLowerCase() as Hex;
    const record = await registeredModel(node, sha256);
    if (record === undefined)
      throw new ComputeCliError(
        ComputeCliErrorCode.NOT_FOUND,
        `model ${sha256} is not registered on this chain: give its .onnx file to register and upload it`,
      );
    return {
      sha256,
      inputs: specsOf(record.inputs),
      policy: record.policy,
      registered: false,
      uploaded: false,
    };
  }
  const bytes = readInputFile(value, "model file");
  let spec: ReturnType<typeof readModelSpec>;
  try {
    spec = readModelSpec(bytes);
  } catch (err) {
    throw invalid(`${value}: ${(err as Error).message}`);
  }
  const sha256 = sha256Hex(bytes);
  let record = await registeredModel(node, sha256);
  let registered = false;
  if (record === undefined) {
    const modelName = name ?? basename(value).replace(/\.onnx$/i, "");
    const receipt = await node.send(account, {
      address: MODEL_REGISTRY,
      abi: MODEL_REGISTRY_ABI,
      functionName: "registerModel",
      args: [
        sha256,
        BigInt(bytes.length),
        modelName,
        spec.inputs.map((t) => onChainSpec(t, "input")),
        spec.outputs.map((t) => onChainSpec(t, "output")),
        policyToOnChain(defaultPolicyFor(spec.outputs)),
      ],
    });
    out.info(`model ${sha256} registered as ${JSON.stringify(modelName)} (tx ${receipt.transactionHash})`);
    record = await registeredModel(node, sha256);
    if (record === undefined)
      throw new ComputeCliError(
        ComputeCliErrorCode.RPC,
        `model ${sha256} is not registered after its registration`,
      );
    registered = true;
  }
  await node.putBlob(bytes);
  out.info(`model ${sha256} (${bytes.length} bytes) stored on the node for providers to fetch`);
  return { sha256, inputs: specsOf(record.inputs), policy: record.policy, registered, uploaded: true };
}

/** `--input` / `--input-shape` values: `FILE` or `NAME=FILE`, `DIMS` or `NAME=DIMS`. */
function splitNamed(value: string, isPath: boolean): { name?: string; value: string } {
  if (isPath && existsSync(value)) return { value };
  const eq = value.indexOf("=");
  if (eq > 0) return { name: value.slice(0, eq), value: value.slice(eq + 1) };
  return { value };
}

/** The model's input tensors from the --input files. */
export function readInputs(
  files: readonly string[],
  shapes: readonly string[],
  inputs: readonly TensorSpec[],
): CanonicalTensor[] {
  if (files.length === 0) throw invalid("give the task's input with --input FILE");
  const names = inputs.map((i) => i.name);
  const named = files.map((f) => splitNamed(f, true));
  const shapeOf = new Map<string | undefined, string>();
  for (const s of shapes.map((x) => splitNamed(x, false))) {
    if (shapeOf.has(s.name)) throw invalid(`--input-shape given twice for ${s.name ?? "the input"}`);
    shapeOf.set(s.name, s.value);
  }
  if (named.some((n) => n.name === undefined) && (named.length > 1 || inputs.length > 1))
    throw invalid(
      `the model has ${inputs.length} input${inputs.length === 1 ? "" : "s"} (${names.join(", ")}): name each file, --input NAME=FILE`,
    );
  const tensors: CanonicalTensor[] = [];
  for (const n of named) {
    const name = n.name ?? names[0];
    if (!names.includes(name))
      throw invalid(`the model has no input ${JSON.stringify(name)} (its inputs: ${names.join(", ")})`);
    if (tensors.some((t) => t.name === name)) throw invalid(`input ${name} is given twice`);
    const bytes = readInputFile(n.value, "input file");
    const shape = shapeOf.get(n.name) ?? (named.length === 1 ? shapeOf.get(undefined) : undefined);
    try {
      if (NPY_MAGIC.every((b, i) => bytes[i] === b)) {
        const tensor = readNpy(bytes, name);
        if (shape !== undefined && parseShape(shape).join(",") !== tensor.dims.join(","))
          throw invalid(
            `${n.value} is a .npy array of shape [${tensor.dims.join(",")}], not --input-shape ${shape}`,
          );
        tensors.push(tensor);
      } else {
        if (shape === undefined)
          throw invalid(
            `${n.value} is not a .npy file: for raw little-endian float32 give its shape with --input-shape (e.g. 1,3,48,192)`,
          );
        tensors.push(readRawFloat32(bytes, parseShape(shape), name));
      }
    } catch (err) {
      if (err instanceof ComputeRuntimeError) throw invalid(`${n.value}: ${err.message}`);
      throw err;
    }
  }
  for (const s of shapeOf.keys())
    if (s !== undefined && !tensors.some((t) => t.name === s))
      throw invalid(`--input-shape for ${s}, which has no --input`);
  try {
    checkInputs({ irVersion: 0, opset: 0, inputs: [...inputs], outputs: [] }, tensors);
  } catch (err) {
    if (err instanceof ComputeRuntimeError) throw invalid(`the input does not fit the model: ${err.message}`);
    throw err;
  }
  return tensors;
}

// --- status formatting ----------------------------------------------------------------------

const nameOf = (names: readonly string[], code: number) => names[code] ?? `Unknown(${code})`;
const time = (t: bigint) => (t === 0n ? null : Number(t));
const when = (t: bigint) => (t === 0n ? "-" : `${new Date(Number(t) * 1000).toISOString()} (${t})`);

function taskJson(t: Task): Record<string, unknown> {
  const assigned = t.provider.toLowerCase() !== ZERO_ADDRESS;
  return {
    id: t.id.toString(),
    state: nameOf(TASK_STATES, t.state),
    verdict: nameOf(VERDICTS, t.verdict),
    client: t.client.toLowerCase(),
    model: t.model,
    inputHash: t.inputHash,
    provider: assigned ? t.provider.toLowerCase() : null,
    price: assigned ? formatOgpu(t.price) : null,
    maxPrice: formatOgpu(t.maxPrice),
    deposit: formatOgpu(t.deposit),
    verificationFee: formatOgpu(t.payment.verificationFee),
    payment: nameOf(PAYMENT_KINDS, t.payment.kind),
    policy: policyText(t.policy),
    round: t.round,
    committeeSize: t.committeeSize,
    committee: t.committee.map((a) => a.toLowerCase()),
    outputCommitment: t.executedAt === 0n ? null : t.outputCommitment,
    environment: t.executedAt === 0n ? null : t.environment,
    submittedAt: time(t.submittedAt),
    commitEnd: time(t.commitEnd),
    revealEnd: time(t.revealEnd),
    executionDeadline: time(t.executionDeadline),
    executedAt: time(t.executedAt),
    verifyDeadline: time(t.verifyDeadline),
    deadline: time(t.deadline),
    closedAt: time(t.closedAt),
  };
}

function taskLines(t: Task): string[] {
  const j = taskJson(t);
  const verdict = t.verdict === 0 ? "" : ` (verdict ${j.verdict})`;
  return [
    `task ${t.id}: ${j.state}${verdict}`,
    `  client              ${j.client}`,
    `  model               ${t.model}`,
    `  input               ${t.inputHash}`,
    `  provider            ${j.provider === null ? "-" : `${j.provider} at ${ogpu(t.price)} (round ${t.round})`}`,
    `  max price           ${ogpu(t.maxPrice)}   deposit ${ogpu(t.deposit)}   verification fee ${ogpu(t.payment.verificationFee)} (${j.payment})`,
    `  policy              ${j.policy}`,
    `  committee           ${t.committee.length === 0 ? `- (${t.committeeSize} members)` : t.committee.map((a) => a.toLowerCase()).join(", ")}`,
    `  output              ${j.outputCommitment ?? "-"}`,
    `  bidding until       ${when(t.commitEnd)}`,
    `  reveals until       ${when(t.revealEnd)}`,
    `  execution deadline  ${when(t.executionDeadline)}`,
    `  verify deadline     ${when(t.verifyDeadline)}`,
    `  deadline            ${when(t.deadline)}`,
    `  closed              ${when(t.closedAt)}`,
  ];
}

// --- commands -------------------------------------------------------------------------------

interface SubmitOpts extends ClientOpts {
  model: string;
  modelName?: string;
  input?: string[];
  inputShape?: string[];
  maxPrice: bigint;
  deposit?: bigint;
  verificationFee?: bigint;
  committeeSize: number;
  biddingWindow: number;
  executionTimeout: number;
  deadline?: number;
  policy?: string;
  payment: string;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function submitCommand(): Command {
  const cmd = new Command("submit")
    .description(
      "submit a batch task: the model (ONNX file, registered and uploaded when new, or the sha256 of a registered model) on an input (.npy, or raw float32 with --input-shape)",
    )
    .requiredOption("--model <file|sha256>", "the ONNX model file, or the sha256 of a registered model")
    .option("--model-name <name>", "name to register a new model under (default: the file name)")
    .option(
      "--input <[name=]file>",
      "input tensor: a .npy file, or raw little-endian float32 (repeat for models with several inputs)",
      collect,
    )
    .option(
      "--input-shape <[name=]dims>",
      "shape of a raw float32 input, e.g. 1,3,48,192 (repeat as NAME=DIMS)",
      collect,
    )
    .requiredOption("--max-price <ogpu>", "most the task pays its provider, in oGPU", amountOption)
    .option(
      "--deposit <ogpu>",
      "deposit locked with the task (default: max price + verification fee)",
      amountOption,
    )
    .option(
      "--verification-fee <ogpu>",
      "paid to the committee (default: the market's minimum for the committee size)",
      amountOption,
    )
    .option("--committee-size <n>", "verifiers drawn for the result", parseInteger, 3)
    .option(
      "--bidding-window <seconds>",
      "sealed-bid phase (reveals follow)",
      parseInteger,
      DEFAULT_BIDDING_WINDOW,
    )
    .option(
      "--execution-timeout <seconds>",
      "time the winner has to commit its result",
      parseInteger,
      DEFAULT_EXECUTION_TIMEOUT,
    )
    .option(
      "--deadline <seconds>",
      `seconds from now after which an unsettled task fails and is refunded (default ${DEFAULT_DEADLINE}, or more when the windows need it)`,
      parseInteger,
    )
    .option(
      "--policy <policy>",
      "verification: exact, int8-exact or tolerance:RTOL:ATOL:TOPK (default: the model's registered policy)",
    )
    .option("--payment <kind>", "how the verification fee is split: equal or stake", "equal");
  clientOptions(cmd, true);
  return cmd.action(
    action(async (opts: SubmitOpts) => {
      const out = new Output(opts.json);
      const payment = PAYMENT_KINDS.indexOf(opts.payment as (typeof PAYMENT_KINDS)[number]);
      if (payment < 0) throw invalid(`--payment ${opts.payment}: equal or stake`);
      const policy = opts.policy === undefined ? undefined : policyToOnChain(parsePolicy(opts.policy));
      const account = await requireSigner(opts);
      const node = await NodeClient.connect(opts);
      const params: MarketParams = await readParams(node);
      if (opts.committeeSize < 1 || opts.committeeSize > params.maxCommitteeSize)
        throw invalid(`--committee-size must be 1 to ${params.maxCommitteeSize}`);
      const model = await resolveModel(node, account, opts.model, opts.modelName, out);
      const tensors = readInputs(opts.input ?? [], opts.inputShape ?? [], model.inputs);
      const canonical = encodeCanonical(tensors);
      const inputHash = sha256Hex(canonical);
      const inline = canonical.length <= params.maxInlineInput;
      if (!inline) {
        await node.putBlob(canonical);
        out.info(`input ${inputHash} (${canonical.length} bytes) stored on the node for providers to fetch`);
      }
      const fee = opts.verificationFee ?? params.minFeePerMember * BigInt(opts.committeeSize);
      const deposit = opts.deposit ?? opts.maxPrice + fee;
      const needed =
        opts.biddingWindow +
        Number(params.revealWindow) +
        opts.executionTimeout +
        Number(params.verifyWindow);
      const deadlineIn = opts.deadline ?? Math.max(DEFAULT_DEADLINE, needed + 60);
      const head = await node.public.getBlock();
      const request = {
        model: model.sha256,
        inputHash,
        input: inline ? (`0x${Buffer.from(canonical).toString("hex")}` as Hex) : ("0x" as Hex),
        maxPrice: opts.maxPrice,
        biddingWindow: BigInt(opts.biddingWindow),
        executionTimeout: BigInt(opts.executionTimeout),
        deadline: head.timestamp + BigInt(deadlineIn),
        committeeSize: opts.committeeSize,
        policy: policy ?? model.policy,
        payment: { kind: payment, verificationFee: fee },
      };
      const receipt = await node.send(account, {
        address: TASK_MARKET,
        abi: TASK_MARKET_ABI,
        functionName: "submitTask",
        args: [request],
        value: deposit,
      });
      const [event] = parseEventLogs({
        abi: TASK_MARKET_ABI,
        logs: receipt.logs,
        eventName: "TaskSubmitted",
      });
      if (event === undefined)
        throw new ComputeCliError(
          ComputeCliErrorCode.RPC,
          "submitTask: no TaskSubmitted event in the receipt",
        );
      const id = event.args.taskId;
      const task = await readTask(node, id);
      const state = nameOf(TASK_STATES, task.state);
      out.result(
        {
          id: id.toString(),
          state,
          tx: receipt.transactionHash,
          block: Number(receipt.blockNumber),
          model: model.sha256,
          modelRegistered: model.registered,
          inputHash,
          inputBytes: canonical.length,
          inputInline: inline,
          maxPrice: formatOgpu(opts.maxPrice),
          verificationFee: formatOgpu(fee),
          deposit: formatOgpu(deposit),
          policy: policyText(request.policy),
          deadline: Number(request.deadline),
        },
        [
          `task ${id} submitted: ${state}`,
          `  model     ${model.sha256}${model.registered ? " (registered now)" : ""}`,
          `  input     ${inputHash} (${canonical.length} bytes, ${inline ? "inline" : "uploaded to the node"})`,
          `  price     max ${ogpu(opts.maxPrice)}, verification fee ${ogpu(fee)}, deposit ${ogpu(deposit)}`,
          `  policy    ${policyText(request.policy)}`,
          `  deadline  ${when(request.deadline)}`,
          `  tx        ${receipt.transactionHash} in block ${receipt.blockNumber}`,
        ],
      );
    }),
  );
}

function statusCommand(): Command {
  const cmd = new Command("status")
    .description("show a task: state, provider and price, committee, verdict, deadlines")
    .argument("<id>", "task id", parseTaskId);
  clientOptions(cmd, false);
  return cmd.action(
    action(async (id: bigint, opts: ClientOpts) => {
      const out = new Output(opts.json);
      const node = await NodeClient.connect(opts);
      const task = await readTask(node, id);
      out.result(taskJson(task), taskLines(task));
    }),
  );
}

interface ResultOpts extends ClientOpts {
  out: string;
}

function resultCommand(): Command {
  const cmd = new Command("result")
    .description(
      "download a settled task's output, check it against the output commitment, and write it: .npy when the output is one tensor and FILE ends in .npy, else the canonical tensor encoding",
    )
    .argument("<id>", "task id", parseTaskId)
    .requiredOption("--out <file>", "where to write the output");
  clientOptions(cmd, false);
  return cmd.action(
    action(async (id: bigint, opts: ResultOpts) => {
      const out = new Output(opts.json);
      const node = await NodeClient.connect(opts);
      const task = await readTask(node, id);
      const state = nameOf(TASK_STATES, task.state);
      if (task.state !== 6 || task.verdict !== 1)
        throw new ComputeCliError(
          ComputeCliErrorCode.WRONG_STATE,
          task.state >= 4 && task.state <= 5
            ? `task ${id} is ${state}: its result is not verified yet`
            : `task ${id} is ${state}${task.verdict === 0 ? "" : ` (verdict ${nameOf(VERDICTS, task.verdict)})`}: it has no accepted result`,
        );
      if (task.outputCommitment === ZERO_HASH)
        throw new ComputeCliError(ComputeCliErrorCode.WRONG_STATE, `task ${id} has no output commitment`);
      const commitment = task.outputCommitment.toLowerCase() as Hex;
      const bytes = await node.getBlob(commitment);
      let tensors: CanonicalTensor[];
      try {
        tensors = decodeCanonical(bytes);
      } catch (err) {
        throw new ComputeCliError(
          ComputeCliErrorCode.INTEGRITY,
          `the output ${commitment} is not a canonical tensor set: ${(err as Error).message}`,
        );
      }
      const wantsNpy = opts.out.toLowerCase().endsWith(".npy");
      const npy = wantsNpy && tensors.length === 1;
      const written = npy ? writeNpy(tensors[0]) : bytes;
      writeFileAtomic(opts.out, written);
      const describe = tensors.map((t) => `${t.name} ${t.dtype} [${t.dims.join(",")}]`).join(", ");
      const format = npy ? "npy" : "canonical";
      const lines = [
        npy
          ? `wrote ${opts.out}: .npy of output ${describe} (${written.length} bytes)`
          : `wrote ${opts.out}: canonical tensor encoding of ${tensors.length} output tensor${tensors.length === 1 ? "" : "s"}: ${describe} (${written.length} bytes)`,
      ];
      if (wantsNpy && !npy)
        lines.push(`  note: the output has ${tensors.length} tensors, so it is not a single .npy array`);
      lines.push(`  output commitment ${commitment} (sha256 checked)`);
      if (out.json && wantsNpy && !npy) out.info(lines[1]);
      out.result(
        {
          id: id.toString(),
          state,
          output: commitment,
          file: opts.out,
          format,
          bytes: written.length,
          tensors: tensors.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims })),
        },
        lines,
      );
    }),
  );
}

function cancelCommand(): Command {
  const cmd = new Command("cancel")
    .description("cancel a task that has not been awarded yet; its deposit is refunded")
    .argument("<id>", "task id", parseTaskId);
  clientOptions(cmd, true);
  return cmd.action(
    action(async (id: bigint, opts: ClientOpts) => {
      const out = new Output(opts.json);
      const account = await requireSigner(opts);
      const node = await NodeClient.connect(opts);
      const before = await readTask(node, id);
      const receipt = await node.send(account, {
        address: TASK_MARKET,
        abi: TASK_MARKET_ABI,
        functionName: "cancelTask",
        args: [id],
      });
      const task = await readTask(node, id);
      const state = nameOf(TASK_STATES, task.state);
      out.result(
        { id: id.toString(), state, refunded: formatOgpu(before.deposit), tx: receipt.transactionHash },
        [`task ${id} ${state}: deposit of ${ogpu(before.deposit)} refunded (tx ${receipt.transactionHash})`],
      );
    }),
  );
}

export function registerTaskCommands(program: Command): void {
  program.addCommand(
    new Command("task")
      .description("submit compute tasks and follow them (talks to any node over JSON-RPC)")
      .addCommand(submitCommand())
      .addCommand(statusCommand())
      .addCommand(resultCommand())
      .addCommand(cancelCommand()),
  );
}
