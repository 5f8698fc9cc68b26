/**
 * Committee attestations: one member's signed verdict on a task's output, as gossiped between
 * nodes (`compute_attestation` topic), checked, pooled per (task, round), and aggregated into
 * the `votes` of `TaskMarket.settle` (one BLS aggregate per verdict, signers as a bitmap over
 * the committee).
 */
import { aggregateSignatures, PublicKey, Signature, verify } from "@chainsafe/blst";
import { ByteVectorType, ContainerType, UintBigintType, UintNumberType, type ValueOf } from "@chainsafe/ssz";
import type { Hex } from "viem";
import { attestationMessage, type Task, TaskState, Verdict } from "../../../precompiles/task-market/index.ts";
import type { ComputeChainView } from "../chain-view.ts";

export const ComputeAttestationType = new ContainerType(
  {
    taskId: new UintBigintType(8),
    round: new UintNumberType(4),
    outputCommitment: new ByteVectorType(32),
    verdict: new UintNumberType(1),
    member: new ByteVectorType(20),
    signature: new ByteVectorType(96),
  },
  { typeName: "ComputeAttestation", jsonCase: "eth2" },
);
export type ComputeAttestation = ValueOf<typeof ComputeAttestationType>;

const hex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString("hex")}`;
const bytes = (h: Hex): Uint8Array => Uint8Array.from(Buffer.from(h.slice(2), "hex"));

/** Signs `verdict` on `task`'s current output as committee member `member`. */
export function signAttestation(
  chainId: bigint,
  task: Task,
  verdict: Verdict,
  member: Hex,
  sign: (message: Uint8Array) => Uint8Array,
): ComputeAttestation {
  const message = attestationMessage(
    chainId,
    task.id,
    task.round,
    task.outputCommitment,
    verdict,
    task.policyHash,
  );
  return {
    taskId: task.id,
    round: task.round,
    outputCommitment: bytes(task.outputCommitment),
    verdict,
    member: bytes(member),
    signature: sign(message),
  };
}

export type AttestationCheck =
  | { ok: true; task: Task }
  | { ok: false; verdict: "IGNORE" | "REJECT"; reason: string; detail: string };

/**
 * Checks an attestation against the chain: the task is being verified in that round, the
 * member sits on its committee, the output is the committed one, and the signature is the
 * member's registered BLS key over the attestation message.
 */
export async function checkAttestation(
  view: ComputeChainView,
  chainId: bigint,
  a: ComputeAttestation,
): Promise<AttestationCheck> {
  let task: Task;
  try {
    task = await view.task(a.taskId);
  } catch {
    return { ok: false, verdict: "IGNORE", reason: "unknown_task", detail: `task ${a.taskId} unknown here` };
  }
  if (task.state !== TaskState.Verifying || task.round !== a.round)
    return {
      ok: false,
      verdict: "IGNORE",
      reason: "not_verifying",
      detail: `task ${a.taskId} round ${a.round}`,
    };
  const member = hex(a.member).toLowerCase();
  if (!task.committee.some((m) => m.toLowerCase() === member))
    return {
      ok: false,
      verdict: "REJECT",
      reason: "not_member",
      detail: `${member} is not on task ${a.taskId}'s committee`,
    };
  if (hex(a.outputCommitment) !== task.outputCommitment.toLowerCase())
    return { ok: false, verdict: "REJECT", reason: "wrong_output", detail: "attestation for another output" };
  if (a.verdict < Verdict.Accept || a.verdict > Verdict.InvalidTask)
    return { ok: false, verdict: "REJECT", reason: "bad_verdict", detail: `verdict ${a.verdict}` };
  const provider = await view.provider(member as Hex);
  const message = attestationMessage(
    chainId,
    task.id,
    task.round,
    task.outputCommitment,
    a.verdict as Verdict,
    task.policyHash,
  );
  let valid = false;
  try {
    valid = verify(
      message,
      PublicKey.fromBytes(bytes(provider.blsPubkey)),
      Signature.fromBytes(a.signature, true),
    );
  } catch {
    valid = false;
  }
  if (!valid)
    return { ok: false, verdict: "REJECT", reason: "invalid_signature", detail: `member ${member}` };
  return { ok: true, task };
}

export interface Vote {
  verdict: number;
  outputCommitment: Hex;
  signers: bigint;
  signature: Hex;
}

/** Checked attestations per (task, round). */
export class AttestationPool {
  private readonly byTask = new Map<string, Map<string, ComputeAttestation>>();

  private static key(taskId: bigint, round: number): string {
    return `${taskId}:${round}`;
  }

  /** Adds a checked attestation; false when the member already attested (same or other verdict). */
  add(a: ComputeAttestation): boolean {
    const key = AttestationPool.key(a.taskId, a.round);
    let members = this.byTask.get(key);
    if (members === undefined) {
      members = new Map();
      this.byTask.set(key, members);
    }
    const member = hex(a.member).toLowerCase();
    if (members.has(member)) return false;
    members.set(member, a);
    return true;
  }

  has(taskId: bigint, round: number, member: Hex): boolean {
    return this.byTask.get(AttestationPool.key(taskId, round))?.has(member.toLowerCase()) ?? false;
  }

  count(taskId: bigint, round: number): number {
    return this.byTask.get(AttestationPool.key(taskId, round))?.size ?? 0;
  }

  /** One aggregate vote per verdict over `committee` (the task's member order). */
  votes(task: Task): Vote[] {
    const members = this.byTask.get(AttestationPool.key(task.id, task.round));
    if (members === undefined) return [];
    const groups = new Map<number, { signers: bigint; signatures: Signature[] }>();
    for (const [i, m] of task.committee.entries()) {
      const a = members.get(m.toLowerCase());
      if (a === undefined) continue;
      const group = groups.get(a.verdict) ?? { signers: 0n, signatures: [] };
      group.signers |= 1n << BigInt(i);
      group.signatures.push(Signature.fromBytes(a.signature));
      groups.set(a.verdict, group);
    }
    return [...groups.entries()].map(([verdict, g]) => ({
      verdict,
      outputCommitment: task.outputCommitment,
      signers: g.signers,
      signature: hex(aggregateSignatures(g.signatures).toBytes()),
    }));
  }

  /** Forgets a task (settled or moved on). */
  prune(taskId: bigint): void {
    for (const key of [...this.byTask.keys()]) if (key.startsWith(`${taskId}:`)) this.byTask.delete(key);
  }
}
