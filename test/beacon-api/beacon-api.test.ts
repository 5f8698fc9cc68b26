/**
 * The Beacon API of a proof-of-stake dev node, over HTTP: 40 slots driven by hand (finality on
 * the minimal preset, one empty slot), then every endpoint queried and checked against the
 * chain itself, a typed @lodestar/api client decoding the answers, SSZ round trips, the event
 * stream read while the slots ran (raw SSE and Lodestar's EventSource client), bad inputs and
 * metrics.
 */
import { bytesToHex } from "@ethereumjs/util";
import { type ApiClient, getClient, routes } from "@lodestar/api";
import { processSlots } from "@lodestar/state-transition";
import { ssz } from "@lodestar/types";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsensusLayer } from "../../node/consensus/index.ts";
import { type DevNodeHandle, startDevNode } from "../helpers/dev-node.ts";

const SLOTS = 40;
/** A slot whose proposer stays silent: an empty slot inside the fork choice's window. */
const SKIPPED = 38;
/** Slots with a block. */
const BLOCK_SLOTS = Array.from({ length: SLOTS }, (_, i) => i + 1).filter((slot) => slot !== SKIPPED);
const SLOTS_PER_EPOCH = 8; // minimal preset
const ZERO_ROOT = `0x${"00".repeat(32)}`;

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Reads `text/event-stream` frames from a fetch body until aborted. */
async function readSse(response: Response, out: SseEvent[], malformed: string[]): Promise<void> {
  const body = response.body;
  if (body === null) throw new Error("no body");
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for await (const chunk of body) {
      buffered += decoder.decode(chunk, { stream: true });
      let end = buffered.indexOf("\n\n");
      while (end >= 0) {
        const frame = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        end = buffered.indexOf("\n\n");
        const lines = frame.split("\n");
        const event = lines.find((l) => l.startsWith("event: "))?.slice(7);
        const data = lines.find((l) => l.startsWith("data: "))?.slice(6);
        if (event === undefined || data === undefined || lines.length !== 2) {
          malformed.push(frame);
          continue;
        }
        out.push({ event, data: JSON.parse(data) as Record<string, unknown> });
      }
    }
  } catch (err) {
    if ((err as Error).name !== "AbortError") throw err;
  }
}

describe("Beacon API", () => {
  let dev: DevNodeHandle;
  let cl: ConsensusLayer;
  let api: ApiClient;
  let stopped = false;
  const rawEvents: SseEvent[] = [];
  const malformed: string[] = [];
  const clientEvents: routes.events.BeaconEvent[] = [];
  let rawDone: Promise<void>;
  const rawAbort = new AbortController();
  const clientAbort = new AbortController();

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${dev.restUrl}${path}`, { headers });
  const getJson = async <T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }> => {
    const response = await get(path);
    return { status: response.status, body: (await response.json()) as T };
  };
  const data = async <T = Record<string, unknown>>(path: string): Promise<T> => {
    const { status, body } = await getJson<{ data: T }>(path);
    expect(status, path).toBe(200);
    return body.data;
  };
  const openStreams = async () =>
    (await dev.node.metrics.registry.getSingleMetric("opengpu_beacon_api_event_streams")?.get())?.values[0]
      ?.value ?? 0;

  beforeAll(async () => {
    dev = await startDevNode({ consensus: true, automine: false, rest: true, metrics: true });
    if (dev.node.consensus === undefined) throw new Error("no consensus");
    cl = dev.node.consensus;
    api = getClient({ baseUrl: dev.restUrl }, { config: cl.config });

    // Two subscribers before the first slot: a raw SSE reader and Lodestar's EventSource client.
    const topics = "head,block,finalized_checkpoint,chain_reorg";
    const response = await fetch(`${dev.restUrl}/eth/v1/events?topics=${topics}`, {
      signal: rawAbort.signal,
      headers: { accept: "text/event-stream" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    rawDone = readSse(response, rawEvents, malformed);
    const { EventType } = routes.events;
    await api.events.eventstream({
      topics: [EventType.head, EventType.block, EventType.finalizedCheckpoint],
      signal: clientAbort.signal,
      onEvent: (event) => clientEvents.push(event),
    });
    for (let i = 0; i < 100 && (await openStreams()) < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await openStreams()).toBe(2);

    for (const slot of BLOCK_SLOTS) await dev.runSlot(slot);
    expect(cl.chain.head.slot).toBe(SLOTS);
    expect(cl.chain.finalizedCheckpoint.epoch).toBeGreaterThanOrEqual(3);
    // Let the last events reach both readers.
    await new Promise((r) => setTimeout(r, 200));
  });

  afterAll(async () => {
    rawAbort.abort();
    clientAbort.abort();
    if (!stopped) await dev?.stop();
  });

  describe("node", () => {
    it("version, syncing, health", async () => {
      expect((await data<{ version: string }>("/eth/v1/node/version")).version).toMatch(
        /^opengpu\/v\d+\.\d+\.\d+\/[a-z0-9]+-[a-z0-9]+$/,
      );
      expect(await data("/eth/v1/node/syncing")).toEqual({
        head_slot: String(SLOTS),
        sync_distance: "0",
        is_syncing: false,
        is_optimistic: false,
        el_offline: false,
      });
      const health = await get("/eth/v1/node/health");
      expect(health.status).toBe(200);
      expect(await health.text()).toBe("");
      // Two slots later on the clock with no new block: the distance grows, still not syncing.
      dev.setTime((cl.clock.genesisTime + (SLOTS + 2) * cl.clock.secondsPerSlot) * 1000);
      expect((await data<{ sync_distance: string }>("/eth/v1/node/syncing")).sync_distance).toBe("2");
      dev.setTime((cl.clock.genesisTime + SLOTS * cl.clock.secondsPerSlot) * 1000);
    });

    it("identity and peers: no p2p layer yet, honestly empty", async () => {
      expect(await data("/eth/v1/node/identity")).toEqual({
        peer_id: "",
        enr: "",
        p2p_addresses: [],
        discovery_addresses: [],
        metadata: { seq_number: "0", attnets: "0x0000000000000000", syncnets: "0x00" },
      });
      expect((await getJson("/eth/v1/node/peers")).body).toEqual({ data: [], meta: { count: 0 } });
      expect((await getJson("/eth/v1/node/peers?state=connected&direction=inbound")).status).toBe(200);
      expect((await getJson("/eth/v1/node/peers?state=bogus")).status).toBe(400);
      expect(await data("/eth/v1/node/peer_count")).toEqual({
        disconnected: "0",
        connecting: "0",
        connected: "0",
        disconnecting: "0",
      });
      const peer = await getJson<{ code: number }>("/eth/v1/node/peers/16Uiu2HAmExample");
      expect(peer.status).toBe(404);
      expect(peer.body.code).toBe(404);
    });
  });

  describe("beacon", () => {
    it("genesis", async () => {
      expect(await data("/eth/v1/beacon/genesis")).toEqual({
        genesis_time: String(cl.clock.genesisTime),
        genesis_validators_root: bytesToHex(cl.config.genesisValidatorsRoot),
        genesis_fork_version: bytesToHex(cl.config.GENESIS_FORK_VERSION),
      });
      expect(cl.clock.genesisTime).toBe(1_700_000_000);
    });

    it("headers: head, genesis, by slot, by root, by parent, finalized flags", async () => {
      const head = cl.chain.head;
      type Header = {
        root: string;
        canonical: boolean;
        header: { message: Record<string, string>; signature: string };
      };
      const headers = await getJson<{ data: Header[]; finalized: boolean; execution_optimistic: boolean }>(
        "/eth/v1/beacon/headers",
      );
      expect(headers.body.data).toHaveLength(1);
      expect(headers.body.data[0].root).toBe(head.blockRoot);
      expect(headers.body.data[0].header.message).toMatchObject({
        slot: String(SLOTS),
        parent_root: head.parentRoot,
        state_root: head.stateRoot,
      });
      expect(headers.body).toMatchObject({ execution_optimistic: false, finalized: false });

      const byHead = await getJson<{ data: Header; finalized: boolean }>("/eth/v1/beacon/headers/head");
      expect(byHead.body.data).toEqual(headers.body.data[0]);
      expect(byHead.body.finalized).toBe(false);
      const block = cl.chain.getBlock(head.blockRoot);
      expect(byHead.body.data.header.signature).toBe(bytesToHex(block?.signature ?? new Uint8Array()));
      expect(byHead.body.data.header.message.proposer_index).toBe(String(block?.message.proposerIndex));
      expect(byHead.body.data.header.message.body_root).toBe(
        bytesToHex(
          ssz.electra.BeaconBlockBody.hashTreeRoot(
            block?.message.body ?? ssz.electra.BeaconBlockBody.defaultValue(),
          ),
        ),
      );

      const genesis = await getJson<{ data: Header; finalized: boolean }>("/eth/v1/beacon/headers/genesis");
      expect(genesis.body.data.root).toBe(cl.chain.genesisRoot);
      expect(genesis.body.data.header.message.slot).toBe("0");
      expect(genesis.body.data.header.message.state_root).toBe(
        bytesToHex(cl.db.getMeta("genesisStateRoot") ?? new Uint8Array()),
      );
      expect(genesis.body.finalized).toBe(true);

      // Walking parent roots from the head reaches genesis through every block, finalized history
      // (DB slot index) and fork-choice window alike; the empty slot has no header.
      let cursor = head.blockRoot;
      for (let slot = SLOTS; slot >= 1; slot--) {
        const bySlot = await getJson<{ data: Header[]; finalized: boolean }>(
          `/eth/v1/beacon/headers?slot=${slot}`,
        );
        if (slot === SKIPPED) {
          expect(bySlot.body.data).toEqual([]);
          expect((await getJson(`/eth/v1/beacon/headers/${slot}`)).status).toBe(404);
          continue;
        }
        expect(bySlot.body.data.map((h) => h.root)).toEqual([cursor]);
        expect(bySlot.body.data[0].canonical).toBe(true);
        const finalizedSlot = cl.chain.finalizedCheckpoint.epoch * SLOTS_PER_EPOCH;
        expect(bySlot.body.finalized).toBe(slot <= finalizedSlot);
        const parent = bySlot.body.data[0].header.message.parent_root;
        const children = await getJson<{ data: Header[] }>(`/eth/v1/beacon/headers?parent_root=${parent}`);
        expect(children.body.data.map((h) => h.root)).toEqual([cursor]);
        expect((await data<Header>(`/eth/v1/beacon/headers/${cursor}`)).header.message.slot).toBe(
          String(slot),
        );
        expect((await data<Header>(`/eth/v1/beacon/headers/${slot}`)).root).toBe(cursor);
        cursor = parent;
      }
      expect(cursor).toBe(cl.chain.genesisRoot);
      // Both filters: the child must also be at the slot.
      const slot5 = await data<Header>("/eth/v1/beacon/headers/5");
      const parent5 = slot5.header.message.parent_root;
      expect((await data<Header[]>(`/eth/v1/beacon/headers?slot=5&parent_root=${parent5}`)).length).toBe(1);
      expect((await data<Header[]>(`/eth/v1/beacon/headers?slot=6&parent_root=${parent5}`)).length).toBe(0);

      const finalized = await getJson<{ data: Header; finalized: boolean }>(
        "/eth/v1/beacon/headers/finalized",
      );
      expect(finalized.body.data.root).toBe(cl.chain.finalizedCheckpoint.root);
      expect(finalized.body.finalized).toBe(true);
      const justified = await getJson<{ data: Header }>("/eth/v1/beacon/headers/justified");
      expect(justified.body.data.root).toBe(cl.chain.justifiedCheckpoint.root);
    });

    it("blocks: JSON with version metadata, SSZ bytes that round-trip", async () => {
      const head = cl.chain.head;
      const json = await get("/eth/v2/beacon/blocks/head");
      expect(json.status).toBe(200);
      expect(json.headers.get("eth-consensus-version")).toBe("electra");
      const body = (await json.json()) as {
        version: string;
        execution_optimistic: boolean;
        finalized: boolean;
        data: unknown;
      };
      expect(body).toMatchObject({ version: "electra", execution_optimistic: false, finalized: false });
      const fromJson = ssz.electra.SignedBeaconBlock.fromJson(body.data);
      expect(bytesToHex(ssz.electra.BeaconBlock.hashTreeRoot(fromJson.message))).toBe(head.blockRoot);
      expect(bytesToHex(fromJson.message.body.executionPayload.blockHash)).toBe(
        bytesToHex(dev.node.el.chain.head.hash()),
      );

      const raw = await get(`/eth/v2/beacon/blocks/${head.blockRoot}`, {
        accept: "application/octet-stream",
      });
      expect(raw.status).toBe(200);
      expect(raw.headers.get("content-type")).toBe("application/octet-stream");
      expect(raw.headers.get("eth-consensus-version")).toBe("electra");
      const bytes = new Uint8Array(await raw.arrayBuffer());
      expect(bytesToHex(bytes)).toBe(bytesToHex(ssz.electra.SignedBeaconBlock.serialize(fromJson)));
      const decoded = ssz.electra.SignedBeaconBlock.deserialize(bytes);
      expect(bytesToHex(ssz.electra.BeaconBlock.hashTreeRoot(decoded.message))).toBe(head.blockRoot);

      // Finalized history by slot, and the (rebuilt) genesis block.
      const old = await getJson<{ finalized: boolean; data: { message: { slot: string } } }>(
        "/eth/v2/beacon/blocks/3",
      );
      expect(old.body.finalized).toBe(true);
      expect(old.body.data.message.slot).toBe("3");
      const genesisRaw = await get("/eth/v2/beacon/blocks/genesis", { accept: "application/octet-stream" });
      const genesis = ssz.electra.SignedBeaconBlock.deserialize(
        new Uint8Array(await genesisRaw.arrayBuffer()),
      );
      expect(bytesToHex(ssz.electra.BeaconBlock.hashTreeRoot(genesis.message))).toBe(cl.chain.genesisRoot);

      const root = await getJson<{ data: { root: string } }>("/eth/v1/beacon/blocks/finalized/root");
      expect(root.body.data.root).toBe(cl.chain.finalizedCheckpoint.root);
    });

    it("state root, fork and finality checkpoints by every kind of state id", async () => {
      const headState = cl.chain.headState;
      const headRoot = bytesToHex(headState.hashTreeRoot());
      const root = async (id: string) =>
        (await data<{ root: string }>(`/eth/v1/beacon/states/${id}/root`)).root;
      expect(await root("head")).toBe(headRoot);
      expect(await root(String(SLOTS))).toBe(headRoot);
      expect(await root(headRoot)).toBe(headRoot);
      expect(await root("genesis")).toBe(bytesToHex(cl.db.getMeta("genesisStateRoot") ?? new Uint8Array()));
      expect(await root("0")).toBe(await root("genesis"));
      const finalizedState = await cl.chain.getCheckpointState(cl.chain.finalizedCheckpoint);
      expect(await root("finalized")).toBe(bytesToHex(finalizedState.hashTreeRoot()));
      const justifiedState = await cl.chain.getCheckpointState(cl.chain.justifiedCheckpoint);
      expect(await root("justified")).toBe(bytesToHex(justifiedState.hashTreeRoot()));
      // A state root of a block in the fork choice's window.
      const recent = cl.chain.forkChoice.getBlock(
        cl.chain.forkChoice.getAncestor(cl.chain.head.blockRoot, 35) ?? "",
      );
      expect(recent?.slot).toBe(35);
      expect(await root(recent?.stateRoot ?? "")).toBe(recent?.stateRoot);
      expect(await root("35")).toBe(recent?.stateRoot);
      // The empty slot's state: its last block's post-state advanced through the slot.
      const before = cl.chain.forkChoice.getAncestor(cl.chain.head.blockRoot, SKIPPED) ?? "";
      expect(cl.chain.forkChoice.getBlock(before)?.slot).toBe(SKIPPED - 1);
      const advanced = processSlots((await cl.chain.getState(before)).clone(), SKIPPED);
      expect(await root(String(SKIPPED))).toBe(bytesToHex(advanced.hashTreeRoot()));

      const finalizedFlag = await getJson<{ finalized: boolean }>("/eth/v1/beacon/states/finalized/root");
      expect(finalizedFlag.body.finalized).toBe(true);
      expect((await getJson<{ finalized: boolean }>("/eth/v1/beacon/states/head/root")).body.finalized).toBe(
        false,
      );
      expect((await getJson<{ finalized: boolean }>("/eth/v1/beacon/states/3/root")).body.finalized).toBe(
        true,
      );

      expect(await data("/eth/v1/beacon/states/head/fork")).toEqual({
        previous_version: bytesToHex(cl.config.ELECTRA_FORK_VERSION),
        current_version: bytesToHex(cl.config.ELECTRA_FORK_VERSION),
        epoch: "0",
      });
      const checkpoints = await data<Record<string, { epoch: string; root: string }>>(
        "/eth/v1/beacon/states/head/finality_checkpoints",
      );
      expect(checkpoints.finalized).toEqual({
        epoch: String(cl.chain.finalizedCheckpoint.epoch),
        root: cl.chain.finalizedCheckpoint.root,
      });
      expect(checkpoints.current_justified).toEqual({
        epoch: String(headState.currentJustifiedCheckpoint.epoch),
        root: bytesToHex(headState.currentJustifiedCheckpoint.root),
      });
      expect(checkpoints.previous_justified.epoch).toBe(String(headState.previousJustifiedCheckpoint.epoch));
      // The genesis state's checkpoints are all zero.
      const genesisCheckpoints = await data<Record<string, { epoch: string; root: string }>>(
        "/eth/v1/beacon/states/genesis/finality_checkpoints",
      );
      expect(genesisCheckpoints.finalized).toEqual({ epoch: "0", root: ZERO_ROOT });
    });

    it("validators and balances with id and status filters", async () => {
      const state = cl.chain.headState;
      type Validator = {
        index: string;
        balance: string;
        status: string;
        validator: Record<string, unknown>;
      };
      const all = await data<Validator[]>("/eth/v1/beacon/states/head/validators");
      expect(all.map((v) => v.index)).toEqual(["0", "1", "2", "3"]);
      for (const v of all) {
        const i = Number(v.index);
        expect(v.status).toBe("active_ongoing");
        expect(v.balance).toBe(String(state.balances.get(i)));
        expect(v.validator).toMatchObject({
          pubkey: bytesToHex(state.validators.getReadonly(i).pubkey),
          effective_balance: "32000000000",
          slashed: false,
          activation_epoch: "0",
          exit_epoch: "18446744073709551615",
        });
      }
      // Rewards moved balances off 32 oGPU since genesis.
      expect(all.some((v) => v.balance !== "32000000000")).toBe(true);

      const pubkey2 = bytesToHex(state.validators.getReadonly(2).pubkey);
      const some = await data<Validator[]>(`/eth/v1/beacon/states/head/validators?id=0,${pubkey2}&id=99`);
      expect(some.map((v) => v.index)).toEqual(["0", "2"]);
      expect((await data<Validator[]>("/eth/v1/beacon/states/head/validators?status=active")).length).toBe(4);
      expect(
        (await data<Validator[]>("/eth/v1/beacon/states/head/validators?status=active_ongoing,pending"))
          .length,
      ).toBe(4);
      expect((await data<Validator[]>("/eth/v1/beacon/states/head/validators?status=exited")).length).toBe(0);
      expect((await getJson("/eth/v1/beacon/states/head/validators?status=sleeping")).status).toBe(400);
      expect((await getJson("/eth/v1/beacon/states/head/validators?id=0xzz")).status).toBe(400);

      const one = await data<Validator>(`/eth/v1/beacon/states/head/validators/${pubkey2}`);
      expect(one.index).toBe("2");
      expect((await getJson("/eth/v1/beacon/states/head/validators/7")).status).toBe(404);

      const post = await fetch(`${dev.restUrl}/eth/v1/beacon/states/head/validators`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ids: ["1"], statuses: ["active_ongoing"] }),
      });
      expect(((await post.json()) as { data: Validator[] }).data.map((v) => v.index)).toEqual(["1"]);

      const balances = await data<{ index: string; balance: string }[]>(
        "/eth/v1/beacon/states/head/validator_balances?id=3,1",
      );
      expect(balances).toEqual([
        { index: "3", balance: String(state.balances.get(3)) },
        { index: "1", balance: String(state.balances.get(1)) },
      ]);
      const genesisBalances = await data<{ balance: string }[]>(
        "/eth/v1/beacon/states/genesis/validator_balances",
      );
      expect(genesisBalances.map((b) => b.balance)).toEqual(Array(4).fill("32000000000"));
    });

    it("committees with epoch, index and slot filters", async () => {
      const state = cl.chain.headState;
      const epoch = Math.floor(SLOTS / SLOTS_PER_EPOCH);
      type Committee = { index: string; slot: string; validators: string[] };
      const committees = await data<Committee[]>("/eth/v1/beacon/states/head/committees");
      expect(committees.length).toBe(SLOTS_PER_EPOCH); // 4 validators: one committee per slot
      const seen: string[] = [];
      for (const c of committees) {
        const slot = Number(c.slot);
        expect(Math.floor(slot / SLOTS_PER_EPOCH)).toBe(epoch);
        expect(c.validators).toEqual(
          Array.from(state.epochCtx.getBeaconCommittee(slot, Number(c.index)), String),
        );
        seen.push(...c.validators);
      }
      // Each active validator attests exactly once per epoch.
      expect(seen.sort()).toEqual(["0", "1", "2", "3"]);

      const slot = epoch * SLOTS_PER_EPOCH + 3;
      const one = await data<Committee[]>(`/eth/v1/beacon/states/head/committees?slot=${slot}&index=0`);
      expect(one).toHaveLength(1);
      expect(one[0].slot).toBe(String(slot));
      const previous = await data<Committee[]>(`/eth/v1/beacon/states/head/committees?epoch=${epoch - 1}`);
      expect(previous.map((c) => c.slot)[0]).toBe(String((epoch - 1) * SLOTS_PER_EPOCH));
      expect((await getJson(`/eth/v1/beacon/states/head/committees?epoch=${epoch - 2}`)).status).toBe(400);
      expect((await getJson("/eth/v1/beacon/states/head/committees?slot=3")).status).toBe(400);
      expect((await getJson("/eth/v1/beacon/states/head/committees?index=1")).status).toBe(400);
      expect((await getJson("/eth/v1/beacon/states/head/committees?slot=abc")).status).toBe(400);
    });
  });

  describe("config", () => {
    it("spec, fork schedule, deposit contract", async () => {
      const spec = await data<Record<string, string>>("/eth/v1/config/spec");
      expect(spec).toMatchObject({
        CONFIG_NAME: "opengpu",
        PRESET_BASE: "minimal",
        SECONDS_PER_SLOT: String(cl.clock.secondsPerSlot),
        SLOTS_PER_EPOCH: String(SLOTS_PER_EPOCH),
        GENESIS_FORK_VERSION: "0x4f470000",
        ELECTRA_FORK_VERSION: "0x4f470005",
        ELECTRA_FORK_EPOCH: "0",
        FULU_FORK_EPOCH: "18446744073709551615",
        DEPOSIT_CHAIN_ID: String(dev.node.el.chain.config.chainId),
        DEPOSIT_CONTRACT_ADDRESS: "0x4f47505500000000000000000000000000000001",
        MAX_EFFECTIVE_BALANCE: "32000000000",
        FAR_FUTURE_EPOCH: "18446744073709551615",
        DOMAIN_BEACON_PROPOSER: "0x00000000",
        DOMAIN_BEACON_ATTESTER: "0x01000000",
      });
      // Every value is a string, except BLOB_SCHEDULE: a list of {EPOCH, MAX_BLOBS_PER_BLOCK} strings.
      for (const [key, value] of Object.entries(spec)) {
        if (key === "BLOB_SCHEDULE") expect(Array.isArray(value)).toBe(true);
        else expect(typeof value, key).toBe("string");
      }

      const forks = await data<{ previous_version: string; current_version: string; epoch: string }[]>(
        "/eth/v1/config/fork_schedule",
      );
      expect(forks[0]).toEqual({ previous_version: "0x4f470000", current_version: "0x4f470000", epoch: "0" });
      expect(forks.find((f) => f.current_version === "0x4f470005")).toEqual({
        previous_version: "0x4f470004",
        current_version: "0x4f470005",
        epoch: "0",
      });
      expect(await data("/eth/v1/config/deposit_contract")).toEqual({
        chain_id: String(dev.node.el.chain.config.chainId),
        address: "0x4f47505500000000000000000000000000000001",
      });
    });
  });

  describe("a real Beacon API client (@lodestar/api)", () => {
    it("decodes typed responses", async () => {
      const genesis = (await api.beacon.getGenesis()).value();
      expect(genesis.genesisTime).toBe(cl.clock.genesisTime);
      expect(bytesToHex(genesis.genesisValidatorsRoot)).toBe(bytesToHex(cl.config.genesisValidatorsRoot));

      const block = await api.beacon.getBlockV2({ blockId: "head" });
      expect(block.meta()).toEqual({ version: "electra", executionOptimistic: false, finalized: false });
      expect(block.value().message.slot).toBe(SLOTS);
      const sszBlock = await api.beacon.getBlockV2({ blockId: 12 }, { responseWireFormat: "ssz" });
      expect(sszBlock.wireFormat()).toBe("ssz");
      expect(sszBlock.value().message.slot).toBe(12);
      expect(sszBlock.meta().finalized).toBe(true);

      const headers = (await api.beacon.getBlockHeaders({ slot: 7 })).value();
      expect(headers[0].header.message.slot).toBe(7);
      expect(headers[0].canonical).toBe(true);

      const validators = await api.beacon.getStateValidators({ stateId: "head", validatorIds: [1, 3] });
      expect(validators.value().map((v) => [v.index, v.status])).toEqual([
        [1, "active_ongoing"],
        [3, "active_ongoing"],
      ]);
      expect(validators.meta()).toEqual({ executionOptimistic: false, finalized: false });

      const checkpoints = (await api.beacon.getStateFinalityCheckpoints({ stateId: "head" })).value();
      expect(checkpoints.finalized.epoch).toBe(cl.chain.finalizedCheckpoint.epoch);
      const committees = (await api.beacon.getEpochCommittees({ stateId: "finalized" })).value();
      expect(committees.length).toBe(SLOTS_PER_EPOCH);

      const syncing = (await api.node.getSyncingStatus()).value();
      expect(syncing).toEqual({
        headSlot: SLOTS,
        syncDistance: 0,
        isSyncing: false,
        isOptimistic: false,
        elOffline: false,
      });
      expect((await api.node.getHealth()).status).toBe(200);
      expect((await api.node.getPeers()).meta()).toEqual({ count: 0 });
      expect((await api.node.getNetworkIdentity()).value().metadata.seqNumber).toBe(0n);
      const spec = (await api.config.getSpec()).value();
      expect(spec.SECONDS_PER_SLOT).toBe(String(cl.clock.secondsPerSlot));

      const missing = await api.beacon.getBlockHeader({ blockId: `0x${"11".repeat(32)}` });
      expect(missing.ok).toBe(false);
      expect(missing.status).toBe(404);
      expect(missing.error()?.message).toContain("not found");
    });

    it("received the chain's events through its EventSource client", () => {
      const { EventType } = routes.events;
      const blocks = clientEvents.filter((e) => e.type === EventType.block);
      expect(blocks.map((e) => (e.message as { slot: number }).slot)).toEqual(BLOCK_SLOTS);
      const heads = clientEvents.filter((e) => e.type === EventType.head);
      expect(heads.at(-1)?.message).toMatchObject({ slot: SLOTS, block: cl.chain.head.blockRoot });
      const finalized = clientEvents.filter((e) => e.type === EventType.finalizedCheckpoint);
      expect(finalized.at(-1)?.message).toMatchObject({
        epoch: cl.chain.finalizedCheckpoint.epoch,
        block: cl.chain.finalizedCheckpoint.root,
      });
    });
  });

  describe("events (SSE)", () => {
    it("streamed well-formed head, block and finalized_checkpoint events while slots ran", () => {
      expect(malformed).toEqual([]);
      const blocks = rawEvents.filter((e) => e.event === "block");
      expect(blocks.map((e) => e.data)).toEqual(
        BLOCK_SLOTS.map((slot) => {
          const stored = cl.db.getCanonicalRoot(slot);
          return {
            slot: String(slot),
            block:
              stored !== undefined
                ? bytesToHex(stored)
                : cl.chain.forkChoice.getAncestor(cl.chain.head.blockRoot, slot),
            execution_optimistic: false,
          };
        }),
      );
      const heads = rawEvents.filter((e) => e.event === "head");
      // A new head per block; the empty slot changed nothing.
      expect(heads.map((e) => e.data.slot)).toEqual(BLOCK_SLOTS.map(String));
      const last = heads.at(-1)?.data;
      const headState = cl.chain.headState;
      expect(last).toEqual({
        slot: String(SLOTS),
        block: cl.chain.head.blockRoot,
        state: bytesToHex(headState.hashTreeRoot()),
        epoch_transition: true, // slot 40 starts epoch 5
        previous_duty_dependent_root: cl.chain.forkChoice.getAncestor(cl.chain.head.blockRoot, 31),
        current_duty_dependent_root: cl.chain.forkChoice.getAncestor(cl.chain.head.blockRoot, 39),
        execution_optimistic: false,
      });
      for (const head of heads)
        expect(head.data.epoch_transition).toBe(Number(head.data.slot) % SLOTS_PER_EPOCH === 0);
      // Before epoch 1 the duties depend on the genesis block.
      expect(heads[0].data.previous_duty_dependent_root).toBe(cl.chain.genesisRoot);

      const finalized = rawEvents.filter((e) => e.event === "finalized_checkpoint");
      expect(finalized.length).toBeGreaterThan(0);
      const epochs = finalized.map((e) => Number(e.data.epoch));
      expect(epochs).toEqual([...epochs].sort((a, b) => a - b));
      expect(finalized.at(-1)?.data).toMatchObject({
        epoch: String(cl.chain.finalizedCheckpoint.epoch),
        block: cl.chain.finalizedCheckpoint.root,
        execution_optimistic: false,
      });
      // One producer, no competing blocks: no reorgs.
      expect(rawEvents.filter((e) => e.event === "chain_reorg")).toEqual([]);
      // Events arrive in chain order: each block before the head it becomes.
      expect(rawEvents.findIndex((e) => e.event === "block")).toBeLessThan(
        rawEvents.findIndex((e) => e.event === "head"),
      );
    });
  });

  describe("bad input", () => {
    it("malformed ids are 400, unknown ones 404, with the spec's error body", async () => {
      for (const id of ["abc", "0x1234", "-1", "1.5", `0x${"zz".repeat(32)}`, "HEAD"]) {
        const header = await getJson<{ code: number; message: string }>(`/eth/v1/beacon/headers/${id}`);
        expect(header.status, id).toBe(400);
        expect(header.body.code).toBe(400);
        expect(header.body.message).toContain("Invalid block id");
        expect((await getJson(`/eth/v2/beacon/blocks/${id}`)).status, id).toBe(400);
        expect((await getJson(`/eth/v1/beacon/states/${id}/root`)).status, id).toBe(400);
      }
      const unknownRoot = `0x${"ab".repeat(32)}`;
      const block = await getJson<{ code: number; message: string }>(`/eth/v2/beacon/blocks/${unknownRoot}`);
      expect(block).toEqual({ status: 404, body: { code: 404, message: `Block ${unknownRoot} not found` } });
      expect((await getJson(`/eth/v1/beacon/states/${unknownRoot}/root`)).status).toBe(404);
      expect((await getJson(`/eth/v1/beacon/headers/${SLOTS + 5}`)).status).toBe(404);
      expect((await getJson(`/eth/v1/beacon/states/${SLOTS + 5}/root`)).status).toBe(404);
      expect((await getJson("/eth/v1/beacon/headers?parent_root=0x12")).status).toBe(400);
      expect((await getJson(`/eth/v1/beacon/headers?parent_root=${unknownRoot}`)).body).toMatchObject({
        data: [],
      });
      const route = await getJson<{ code: number }>("/eth/v1/beacon/nothing");
      expect(route.status).toBe(404);
      expect(route.body.code).toBe(404);
      const topic = await getJson<{ code: number; message: string }>("/eth/v1/events?topics=head,gossip");
      expect(topic).toEqual({ status: 400, body: { code: 400, message: "Invalid topic: gossip" } });
      expect((await getJson("/eth/v1/events")).status).toBe(400);
      const badJson = await fetch(`${dev.restUrl}/eth/v1/beacon/states/head/validators`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{not json",
      });
      expect(badJson.status).toBe(400);
      expect(((await badJson.json()) as { code: number }).code).toBe(400);
    });
  });

  describe("metrics and shutdown", () => {
    it("counts requests by route and status", async () => {
      const text = await (await fetch(`${dev.node.metricsUrl}/metrics`)).text();
      const count = (labels: string) =>
        Number(text.match(new RegExp(`opengpu_beacon_api_requests_total\\{${labels}\\} (\\d+)`))?.[1] ?? 0);
      expect(count('route="getBlockV2",status="200"')).toBeGreaterThan(0);
      expect(count('route="getBlockV2",status="404"')).toBeGreaterThan(0);
      expect(count('route="getBlockHeader",status="400"')).toBeGreaterThan(0);
      expect(count('route="getStateValidators",status="200"')).toBeGreaterThan(0);
      expect(count('route="postStateValidators",status="200"')).toBe(1);
      expect(count('route="eventstream",status="200"')).toBe(2);
      expect(count('route="unmatched",status="404"')).toBeGreaterThan(0);
      expect(text).toMatch(/opengpu_beacon_api_request_seconds_count\{route="getGenesis"\} \d+/);
      expect(text).toMatch(/opengpu_beacon_api_event_streams 2/);
    });

    it("stops with event streams still open", async () => {
      expect(await openStreams()).toBe(2);
      await dev.stop();
      stopped = true;
      await rawDone; // the server ended the stream
      await expect(fetch(`${dev.restUrl}/eth/v1/node/version`)).rejects.toThrow();
    });
  });
});
