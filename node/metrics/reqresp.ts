/**
 * Prometheus metrics of the p2p req/resp protocols: requests served (inbound) and made
 * (outbound) by protocol (`status/1`, `beacon_blocks_by_range/2`, `blob/1`, ...) and outcome
 * (`success` or an error code such as `rate_limited`, `ttfb_timeout`), their duration, and blob
 * bytes moved. Protocols and outcomes are fixed sets, so labels stay bounded.
 */
import { Counter, Histogram } from "prom-client";
import type { Metrics } from "./index.ts";

export type ReqRespDirection = "inbound" | "outbound";

export interface ReqRespMetrics {
  /** One finished request: served (`inbound`) or made (`outbound`). */
  onRequest(direction: ReqRespDirection, protocol: string, outcome: string, seconds: number): void;
  /** Blob bytes sent (`inbound` requests) or received (`outbound`). */
  onBlobBytes(direction: ReqRespDirection, bytes: number): void;
}

const cache = new WeakMap<Metrics, ReqRespMetrics>();

/** The req/resp metric group of a node's registry (created once per registry). */
export function reqRespMetrics(metrics: Metrics): ReqRespMetrics {
  const existing = cache.get(metrics);
  if (existing !== undefined) return existing;
  const registers = [metrics.registry];
  const served = new Counter({
    name: "opengpu_p2p_reqresp_requests_served_total",
    help: "Req/resp requests served to peers, by protocol and outcome",
    labelNames: ["protocol", "outcome"],
    registers,
  });
  const made = new Counter({
    name: "opengpu_p2p_reqresp_requests_made_total",
    help: "Req/resp requests made to peers, by protocol and outcome",
    labelNames: ["protocol", "outcome"],
    registers,
  });
  const seconds = new Histogram({
    name: "opengpu_p2p_reqresp_request_seconds",
    help: "Req/resp request duration by direction (inbound: served, outbound: made) and protocol",
    labelNames: ["direction", "protocol"],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30],
    registers,
  });
  const blobBytes = new Counter({
    name: "opengpu_p2p_reqresp_blob_bytes_total",
    help: "Blob bytes sent (inbound requests) and received (outbound requests)",
    labelNames: ["direction"],
    registers,
  });
  const group: ReqRespMetrics = {
    onRequest(direction, protocol, outcome, duration) {
      (direction === "inbound" ? served : made).inc({ protocol, outcome });
      seconds.observe({ direction, protocol }, duration);
    },
    onBlobBytes(direction, bytes) {
      blobBytes.inc({ direction }, bytes);
    },
  };
  cache.set(metrics, group);
  return group;
}
