/** Prometheus metrics of the consensus layer, fed through the chain's metrics sink. */
import { Counter, Gauge, Histogram } from "prom-client";
import type { ChainMetricsSink } from "../consensus/chain/chain.ts";
import type { ValidatorMetricsSink } from "../consensus/validator/validator.ts";
import type { Metrics } from "./index.ts";

const cache = new WeakMap<Metrics, ChainMetricsSink>();

export function consensusMetricsSink(metrics: Metrics): ChainMetricsSink {
  const existing = cache.get(metrics);
  if (existing !== undefined) return existing;
  const registers = [metrics.registry];
  const headSlot = new Gauge({
    name: "opengpu_beacon_head_slot",
    help: "Slot of the beacon head",
    registers,
  });
  const finalizedEpoch = new Gauge({
    name: "opengpu_beacon_finalized_epoch",
    help: "Finalized epoch",
    registers,
  });
  const justifiedEpoch = new Gauge({
    name: "opengpu_beacon_justified_epoch",
    help: "Justified epoch",
    registers,
  });
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];
  const importSeconds = new Histogram({
    name: "opengpu_beacon_block_import_seconds",
    help: "Beacon block import time",
    buckets,
    registers,
  });
  const stSeconds = new Histogram({
    name: "opengpu_beacon_state_transition_seconds",
    help: "State transition time per block (without signatures)",
    buckets,
    registers,
  });
  const sigSeconds = new Histogram({
    name: "opengpu_beacon_block_signatures_seconds",
    help: "Time to verify a block's BLS signatures (one batch)",
    buckets,
    registers,
  });
  const elSeconds = new Histogram({
    name: "opengpu_beacon_execution_payload_seconds",
    help: "Time the execution layer took to validate a block's payload (newPayload)",
    buckets,
    registers,
  });
  const attestations = new Counter({
    name: "opengpu_beacon_attestations_included_total",
    help: "Attestations included in imported blocks",
    registers,
  });
  const missedSlots = new Counter({
    name: "opengpu_beacon_missed_slots_total",
    help: "Slots without a block between consecutive canonical heads",
    registers,
  });
  let lastHeadSlot: number | undefined;
  const reorgs = new Counter({
    name: "opengpu_beacon_reorgs_total",
    help: "Beacon head reorganisations",
    registers,
  });
  const sink: ChainMetricsSink = {
    onBlockImported(t) {
      importSeconds.observe(t.totalMs / 1000);
      stSeconds.observe(t.stateTransitionMs / 1000);
      sigSeconds.observe(t.signaturesMs / 1000);
      elSeconds.observe(t.executionMs / 1000);
      attestations.inc(t.attestations);
    },
    onHead(slot, finalized, justified) {
      if (lastHeadSlot !== undefined && slot > lastHeadSlot + 1) missedSlots.inc(slot - lastHeadSlot - 1);
      if (lastHeadSlot === undefined || slot > lastHeadSlot) lastHeadSlot = slot;
      headSlot.set(slot);
      finalizedEpoch.set(finalized);
      justifiedEpoch.set(justified);
    },
    onReorg() {
      reorgs.inc();
    },
  };
  cache.set(metrics, sink);
  return sink;
}

const validatorCache = new WeakMap<Metrics, ValidatorMetricsSink>();

/** Duties performed by this node's own validators. */
export function validatorMetricsSink(metrics: Metrics): ValidatorMetricsSink {
  const existing = validatorCache.get(metrics);
  if (existing !== undefined) return existing;
  const registers = [metrics.registry];
  const proposed = new Counter({
    name: "opengpu_validator_blocks_proposed_total",
    help: "Blocks proposed by this node's validators",
    registers,
  });
  const missed = new Counter({
    name: "opengpu_validator_proposals_missed_total",
    help: "Proposal duties of this node's validators that produced no imported block",
    registers,
  });
  const attested = new Counter({
    name: "opengpu_validator_attestations_total",
    help: "Attestations signed by this node's validators",
    registers,
  });
  const aggregated = new Counter({
    name: "opengpu_validator_aggregates_total",
    help: "Aggregate-and-proofs signed by this node's validators (selected aggregators)",
    registers,
  });
  const sink: ValidatorMetricsSink = {
    onProposed: () => proposed.inc(),
    onAggregated: (count) => aggregated.inc(count),
    onMissedProposal: () => missed.inc(),
    onAttested: (count) => attested.inc(count),
  };
  validatorCache.set(metrics, sink);
  return sink;
}
