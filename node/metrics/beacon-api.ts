/**
 * Prometheus metrics of the Beacon API (REST) server: requests by route and HTTP status, and
 * their duration by route. `route` is the Beacon API operation id (`getBlockV2`, `eventstream`,
 * ...) or `unmatched` for paths no route serves, so the label set stays bounded whatever URLs
 * clients send.
 */
import { Counter, Gauge, Histogram } from "prom-client";
import type { Metrics } from "./index.ts";

export interface BeaconApiMetrics {
  /** One finished request (for the event stream: one stream opened). */
  onRequest(route: string, status: number, seconds: number): void;
  /** Open event streams (`/eth/v1/events`) changed by `delta`. */
  onEventStream(delta: 1 | -1): void;
}

const cache = new WeakMap<Metrics, BeaconApiMetrics>();

/** The Beacon API metric group of a node's registry (created once per registry). */
export function beaconApiMetrics(metrics: Metrics): BeaconApiMetrics {
  const existing = cache.get(metrics);
  if (existing !== undefined) return existing;
  const registers = [metrics.registry];
  const requests = new Counter({
    name: "opengpu_beacon_api_requests_total",
    help: "Beacon API requests by route (operation id) and HTTP status",
    labelNames: ["route", "status"],
    registers,
  });
  const seconds = new Histogram({
    name: "opengpu_beacon_api_request_seconds",
    help: "Beacon API request duration by route (operation id)",
    labelNames: ["route"],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers,
  });
  const openStreams = new Gauge({
    name: "opengpu_beacon_api_event_streams",
    help: "Open Beacon API event streams (/eth/v1/events)",
    registers,
  });
  const group: BeaconApiMetrics = {
    onRequest(route, status, duration) {
      requests.inc({ route, status: String(status) });
      seconds.observe({ route }, duration);
    },
    onEventStream(delta) {
      openStreams.inc(delta);
    },
  };
  cache.set(metrics, group);
  return group;
}
