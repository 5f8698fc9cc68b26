/**
 * Prometheus metrics of the compute runtime: model executions by execution provider and
 * outcome (`success` or an error code such as `input_mismatch`), execution and session-creation
 * time, and session cache hits and misses. Providers and outcomes are fixed sets, so labels
 * stay bounded.
 *
 * API:
 * - `ComputeRuntimeMetrics` (the interface the runner calls)
 * - `computeRuntimeMetrics(metrics: Metrics): ComputeRuntimeMetrics` (one group per registry)
 */
import { Counter, Histogram } from "prom-client";
import type { Metrics } from "../../metrics/index.ts";

export interface ComputeRuntimeMetrics {
  /** One finished `run`: its execution provider, outcome and the seconds spent in the model run. */
  onExecution(executionProvider: string, outcome: string, seconds: number): void;
  /** One inference session created (a cache miss that loaded the model). */
  onSessionCreate(executionProvider: string, seconds: number): void;
  /** One session cache lookup. */
  onCacheLookup(hit: boolean): void;
}

const cache = new WeakMap<Metrics, ComputeRuntimeMetrics>();

/** The compute runtime metric group of a node's registry (created once per registry). */
export function computeRuntimeMetrics(metrics: Metrics): ComputeRuntimeMetrics {
  const existing = cache.get(metrics);
  if (existing !== undefined) return existing;
  const registers = [metrics.registry];
  const executions = new Counter({
    name: "opengpu_compute_executions_total",
    help: "Model executions by execution provider and outcome",
    labelNames: ["execution_provider", "outcome"],
    registers,
  });
  const executionSeconds = new Histogram({
    name: "opengpu_compute_execution_seconds",
    help: "Time spent running a model (session creation excluded), by execution provider",
    labelNames: ["execution_provider"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const sessionSeconds = new Histogram({
    name: "opengpu_compute_session_create_seconds",
    help: "Time to load a model into an inference session, by execution provider",
    labelNames: ["execution_provider"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const cacheHits = new Counter({
    name: "opengpu_compute_session_cache_hits_total",
    help: "Inference session cache hits",
    registers,
  });
  const cacheMisses = new Counter({
    name: "opengpu_compute_session_cache_misses_total",
    help: "Inference session cache misses",
    registers,
  });
  const group: ComputeRuntimeMetrics = {
    onExecution(executionProvider, outcome, seconds) {
      executions.inc({ execution_provider: executionProvider, outcome });
      if (outcome === "success") executionSeconds.observe({ execution_provider: executionProvider }, seconds);
    },
    onSessionCreate(executionProvider, seconds) {
      sessionSeconds.observe({ execution_provider: executionProvider }, seconds);
    },
    onCacheLookup(hit) {
      (hit ? cacheHits : cacheMisses).inc();
    },
  };
  cache.set(metrics, group);
  return group;
}
