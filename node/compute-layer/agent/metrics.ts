/**
 * Prometheus metrics of the provider agents (every agent of a node shares one group):
 * - `opengpu_compute_task_executions_total{outcome}`: execution jobs by outcome (`committed`: an
 *   output committed on chain; `invalid_task`: the task cannot run and was reported as such;
 *   `failed`: an error of ours, retried later);
 * - `opengpu_compute_verifications_total{verdict}`: committee verifications by the verdict
 *   attested (`accept`, `reject`, `invalid_task`; `failed` when no attestation came out);
 * - `opengpu_compute_settlements_sent_total{verdict}`: `settle` transactions sent;
 * - `opengpu_compute_job_seconds{kind}`: wall time of a job, `execute` (model and input read,
 *   run, output stored, `commitResult` sent), `verify` (re-execution, the executor's output
 *   fetched and compared, attestation signed and published) and `settle` (votes aggregated,
 *   stakes read, `settle` sent; only the passes that send it);
 * - `opengpu_compute_job_stage_seconds{kind,stage}`: the same jobs by stage: `model`, `input`,
 *   `run`, `output` (encode and stage the output blob), `commit` (wait for the output on disk,
 *   send `commitResult`), `fetch` (the executor's output), `compare`, `attest`, `votes`, `send`.
 * Kinds, stages, outcomes and verdicts are fixed sets: labels stay bounded.
 *
 * API:
 * - `ComputeAgentMetrics` (the interface the agents call), `JobKind`, `JobTimer`
 * - `computeAgentMetrics(metrics: Metrics): ComputeAgentMetrics` (one group per registry)
 */
import { Counter, Histogram } from "prom-client";
import type { Metrics } from "../../metrics/index.ts";

export type JobKind = "execute" | "verify" | "settle";

export interface ComputeAgentMetrics {
  /** One finished job: its kind, wall seconds, and seconds per stage. */
  onJob(kind: JobKind, seconds: number, stages: Readonly<Record<string, number>>): void;
  onExecution(outcome: "committed" | "invalid_task" | "failed"): void;
  onVerification(verdict: "accept" | "reject" | "invalid_task" | "failed"): void;
  onSettlementSent(verdict: "accept" | "reject" | "invalid_task"): void;
}

const cache = new WeakMap<Metrics, ComputeAgentMetrics>();

/** The provider agent metric group of a node's registry (created once per registry). */
export function computeAgentMetrics(metrics: Metrics): ComputeAgentMetrics {
  const existing = cache.get(metrics);
  if (existing !== undefined) return existing;
  const registers = [metrics.registry];
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  const executions = new Counter({
    name: "opengpu_compute_task_executions_total",
    help: "Provider agents' execution jobs by outcome",
    labelNames: ["outcome"],
    registers,
  });
  const verifications = new Counter({
    name: "opengpu_compute_verifications_total",
    help: "Provider agents' committee verifications by the verdict attested",
    labelNames: ["verdict"],
    registers,
  });
  const settlements = new Counter({
    name: "opengpu_compute_settlements_sent_total",
    help: "Settle transactions sent by provider agents, by verdict",
    labelNames: ["verdict"],
    registers,
  });
  const jobSeconds = new Histogram({
    name: "opengpu_compute_job_seconds",
    help: "Wall time of provider agents' jobs (execute, verify, settle)",
    labelNames: ["kind"],
    buckets,
    registers,
  });
  const stageSeconds = new Histogram({
    name: "opengpu_compute_job_stage_seconds",
    help: "Wall time of provider agents' jobs by stage",
    labelNames: ["kind", "stage"],
    buckets,
    registers,
  });
  const group: ComputeAgentMetrics = {
    onJob(kind, seconds, stages) {
      jobSeconds.observe({ kind }, seconds);
      for (const [stage, s] of Object.entries(stages)) stageSeconds.observe({ kind, stage }, s);
    },
    onExecution(outcome) {
      executions.inc({ outcome });
    },
    onVerification(verdict) {
      verifications.inc({ verdict });
    },
    onSettlementSent(verdict) {
      settlements.inc({ verdict });
    },
  };
  cache.set(metrics, group);
  return group;
}

/** Times a job's stages: `lap(stage)` ends the stage in progress (and adds to it if it recurs). */
export class JobTimer {
  private readonly started = performance.now();
  private last = this.started;
  readonly stages: Record<string, number> = {};

  lap(stage: string): void {
    const now = performance.now();
    this.stages[stage] = (this.stages[stage] ?? 0) + (now - this.last) / 1000;
    this.last = now;
  }

  get ms(): number {
    return performance.now() - this.started;
  }

  report(metrics: ComputeAgentMetrics | undefined, kind: JobKind): void {
    metrics?.onJob(kind, this.ms / 1000, this.stages);
  }
}
