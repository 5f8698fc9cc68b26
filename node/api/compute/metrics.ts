/**
 * Prometheus metric of the compute layer's task market, as the node sees it at its head:
 * `opengpu_compute_tasks{state}`, tasks by state (every state listed, 0 where none), read from
 * the task index when scraped (the last values stay if the head cannot be read).
 */
import { Gauge } from "prom-client";
import type { Metrics } from "../../metrics/index.ts";
import type { ComputeQueries } from "./queries.ts";

const registered = new WeakMap<Metrics, Gauge>();

/** Registers the tasks-by-state gauge of `queries` on the node's registry (once per registry). */
export function registerComputeApiMetrics(metrics: Metrics, queries: ComputeQueries): void {
  if (registered.has(metrics)) return;
  const gauge = new Gauge({
    name: "opengpu_compute_tasks",
    help: "Tasks in the task market by state, at the head",
    labelNames: ["state"],
    registers: [metrics.registry],
    async collect() {
      let counts: Awaited<ReturnType<ComputeQueries["taskStateCounts"]>>;
      try {
        counts = await queries.taskStateCounts();
      } catch {
        // The head could not be read (e.g. while stopping): the last values stay.
        return;
      }
      for (const [state, count] of Object.entries(counts)) if (state !== "None") this.set({ state }, count);
    },
  });
  registered.set(metrics, gauge);
}
