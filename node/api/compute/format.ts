/**
 * JSON shapes of the compute layer's records (tasks, bids, providers, models), shared by the
 * JSON-RPC `opengpu_` namespace and the REST API `/opengpu/v1`. The two differ only in how
 * unsigned integers are written: JSON-RPC as hex quantities without leading zeros (`"0x1a"`, as
 * the `eth_` methods), REST as decimal strings (`"26"`, as the Beacon API). Enumerations appear
 * twice, by name (`"state": "Settled"`) and by code (`"stateCode"`); addresses are lowercase, as
 * everywhere in the node's JSON-RPC; hashes and bytes are 0x-hex. Tensor dims are JSON numbers
 * (-1 for a dynamic dimension).
 */
import type { Model, TensorSpec } from "../../../precompiles/model-registry/index.ts";
import type { ProviderView } from "../../../precompiles/provider-registry/index.ts";
import type { Bid, Task } from "../../../precompiles/task-market/index.ts";
import type { Json } from "../rpc/format.ts";

export type NumberFormat = "hex" | "decimal";
type JsonObject = { [key: string]: Json };

export const TASK_STATES = [
  "None",
  "Open",
  "Bidding",
  "Assigned",
  "Executed",
  "Verifying",
  "Settled",
  "Reassigned",
  "Failed",
  "Cancelled",
] as const;
export type TaskStateName = (typeof TASK_STATES)[number];

export const VERDICTS = ["None", "Accept", "Reject", "InvalidTask"] as const;
export const PROVIDER_STATUSES = ["None", "Active", "Jailed", "Slashed", "Inactive"] as const;
export type ProviderStatusName = (typeof PROVIDER_STATUSES)[number];
/** IModelRegistry.Policy.kind, named as the runtime and the CLI name them. */
export const POLICY_KINDS = ["exact", "tolerance", "int8-exact"] as const;
/** ITaskMarket.Payment.kind: how the verification fee is split among the quorum. */
export const PAYMENT_KINDS = ["equal", "stake"] as const;
/** ONNX TensorProto data types a model tensor may have (IModelRegistry.TensorSpec.dtype). */
export const DTYPE_NAMES: Readonly<Record<number, string>> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  6: "int32",
  7: "int64",
  9: "bool",
  11: "float64",
};

const ZERO_ADDRESS = `0x${"00".repeat(20)}`;

const nameOf = (names: readonly string[], code: number) => names[code] ?? `Unknown(${code})`;

export class ComputeFormat {
  readonly numbers: NumberFormat;

  constructor(numbers: NumberFormat) {
    this.numbers = numbers;
  }

  /** An unsigned integer: hex quantity or decimal string. */
  num(value: bigint | number): string {
    const v = BigInt(value);
    return this.numbers === "hex" ? `0x${v.toString(16)}` : v.toString(10);
  }

  policy(p: Task["policy"]): JsonObject {
    return {
      kind: nameOf(POLICY_KINDS, p.kind),
      kindCode: this.num(p.kind),
      rtolPpb: this.num(p.rtolPpb),
      atolPpb: this.num(p.atolPpb),
      topK: this.num(p.topK),
    };
  }

  task(t: Task): JsonObject {
    return {
      id: this.num(t.id),
      client: t.client.toLowerCase(),
      state: nameOf(TASK_STATES, t.state),
      stateCode: this.num(t.state),
      model: t.model,
      inputHash: t.inputHash,
      deposit: this.num(t.deposit),
      maxPrice: this.num(t.maxPrice),
      submittedAt: this.num(t.submittedAt),
      commitEnd: this.num(t.commitEnd),
      revealEnd: this.num(t.revealEnd),
      executionTimeout: this.num(t.executionTimeout),
      deadline: this.num(t.deadline),
      committeeSize: this.num(t.committeeSize),
      policy: this.policy(t.policy),
      policyHash: t.policyHash,
      payment: {
        kind: nameOf(PAYMENT_KINDS, t.payment.kind),
        kindCode: this.num(t.payment.kind),
        verificationFee: this.num(t.payment.verificationFee),
      },
      round: this.num(t.round),
      // Before the first award the provider slot is empty.
      provider: t.provider.toLowerCase() === ZERO_ADDRESS ? null : t.provider.toLowerCase(),
      price: this.num(t.price),
      executionDeadline: this.num(t.executionDeadline),
      outputCommitment: t.outputCommitment,
      environment: t.environment,
      executedAt: this.num(t.executedAt),
      committee: t.committee.map((a) => a.toLowerCase()),
      verifyDeadline: this.num(t.verifyDeadline),
      verdict: nameOf(VERDICTS, t.verdict),
      verdictCode: this.num(t.verdict),
      closedAt: this.num(t.closedAt),
    };
  }

  bid(b: Bid): JsonObject {
    return {
      provider: b.provider.toLowerCase(),
      commitment: b.commitment,
      committedAt: this.num(b.committedAt),
      revealed: b.revealed,
      // A sealed bid's price is unknown until it is revealed.
      price: b.revealed ? this.num(b.price) : null,
      excluded: b.excluded,
    };
  }

  provider(p: ProviderView): JsonObject {
    return {
      address: p.account.toLowerCase(),
      status: nameOf(PROVIDER_STATUSES, p.status),
      statusCode: this.num(p.status),
      stake: this.num(p.stake),
      unbonding: this.num(p.unbonding),
      withdrawableAt: this.num(p.withdrawableAt),
      blsPubkey: p.blsPubkey,
      gpu: {
        device: p.gpu.device,
        memoryMiB: this.num(p.gpu.memoryMiB),
        executionProvider: p.gpu.executionProvider,
      },
      models: [...p.models],
      price: this.num(p.price),
      peerId: p.peerId,
      registeredAt: this.num(p.registeredAt),
      jailedUntil: this.num(p.jailedUntil),
      slashed: this.num(p.slashed),
    };
  }

  tensor(t: TensorSpec): JsonObject {
    return {
      name: t.name,
      dtype: DTYPE_NAMES[t.dtype] ?? `Unknown(${t.dtype})`,
      dtypeCode: this.num(t.dtype),
      dims: t.dims.map((d) =>
        d >= BigInt(Number.MIN_SAFE_INTEGER) && d <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(d)
          : d.toString(),
      ),
    };
  }

  model(m: Model): JsonObject {
    return {
      sha256: m.sha256,
      size: this.num(m.size),
      name: m.name,
      registrant: m.registrant.toLowerCase(),
      registeredAt: this.num(m.registeredAt),
      inputs: m.inputs.map((t) => this.tensor(t)),
      outputs: m.outputs.map((t) => this.tensor(t)),
      policy: this.policy(m.policy),
    };
  }
}

export const RPC_FORMAT = new ComputeFormat("hex");
export const REST_FORMAT = new ComputeFormat("decimal");
