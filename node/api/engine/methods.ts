/**
 * The method table served on the authenticated Engine API port: the `engine_` methods,
 * mapped onto an `ExecutionEngine`, plus the few `eth_` methods consensus clients call there
 * (taken from the regular eth table, not re-implemented).
 *
 * Error mapping: parameter shape errors are -32602 (params.ts); an `EngineError` keeps its code
 * (-38001..-38005, -32602); anything else goes through the JSON-RPC layer's usual mapping.
 * State-changing calls (newPayload, forkchoiceUpdated) run one at a time, in arrival order, as
 * geth serializes them: a forkchoiceUpdated never sees a half-imported payload.
 */
import {
  ENGINE_CAPABILITIES,
  EngineError,
  EngineErrorCode,
  type ExecutionEngine,
  type ForkchoiceUpdatedResponse,
} from "../../execution/engine/types.ts";
import { RpcError } from "../rpc/errors.ts";
import type { RpcContext } from "../rpc/index.ts";
import { ethMethods } from "../rpc/methods/eth.ts";
import { type MethodTable, method } from "../rpc/registry.ts";
import { engineParams as p } from "./params.ts";

/** The eth_ methods served beside the engine_ ones (what consensus clients use on this port). */
export const ENGINE_PORT_ETH_METHODS = [
  "eth_chainId",
  "eth_blockNumber",
  "eth_getBlockByNumber",
  "eth_getBlockByHash",
  "eth_syncing",
] as const;

/** Runs async tasks one after another. */
class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Turns an EngineError into the JSON-RPC error carrying its code. */
async function engineCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof EngineError) throw new RpcError(err.code, err.message);
    throw err;
  }
}

export function engineMethods(engine: ExecutionEngine): MethodTable {
  const serial = new SerialQueue();
  const exclusive = <T>(call: () => Promise<T>) => serial.run(() => engineCall(call));
  return {
    engine_exchangeCapabilities: method([p.capabilities("capabilities")], (methods) =>
      engineCall(() => engine.exchangeCapabilities(methods)),
    ),
    engine_getClientVersionV1: method([p.clientVersion("clientVersion")], (client) =>
      engineCall(() => engine.getClientVersionV1(client)),
    ),
    engine_newPayloadV3: method(
      [
        p.payload("executionPayload"),
        p.versionedHashes("expectedBlobVersionedHashes"),
        p.root("parentBeaconBlockRoot"),
      ],
      (payload, versionedHashes, beaconRoot) =>
        exclusive(() => engine.newPayloadV3(payload, versionedHashes, beaconRoot)),
    ),
    engine_newPayloadV4: method(
      [
        p.payload("executionPayload"),
        p.versionedHashes("expectedBlobVersionedHashes"),
        p.root("parentBeaconBlockRoot"),
        p.executionRequests("executionRequests"),
      ],
      (payload, versionedHashes, beaconRoot, requests) =>
        exclusive(() => engine.newPayloadV4(payload, versionedHashes, beaconRoot, requests)),
    ),
    engine_forkchoiceUpdatedV3: method(
      [p.forkchoiceState("forkchoiceState"), p.attributes("payloadAttributes")],
      (state, attributes) =>
        exclusive(async (): Promise<ForkchoiceUpdatedResponse> => {
          if (attributes === undefined || attributes.ok) {
            return engine.forkchoiceUpdatedV3(state, attributes?.value ?? null);
          }
          // execution-apis: apply the forkchoice state, then reject the malformed attributes
          // (the update is not rolled back); a non-VALID status is returned as is.
          const response = await engine.forkchoiceUpdatedV3(state, null);
          if (response.payloadStatus.status !== "VALID") return response;
          throw new EngineError(
            EngineErrorCode.INVALID_PAYLOAD_ATTRIBUTES,
            `Invalid payload attributes: ${attributes.message}`,
          );
        }),
    ),
    engine_getPayloadV3: method([p.payloadId("payloadId")], (id) =>
      engineCall(() => engine.getPayloadV3(id)),
    ),
    engine_getPayloadV4: method([p.payloadId("payloadId")], (id) =>
      engineCall(() => engine.getPayloadV4(id)),
    ),
  };
}

/** The subset of the eth table served on the Engine API port. */
export function engineEthMethods(ctx: RpcContext): MethodTable {
  const all = ethMethods(ctx);
  const out: MethodTable = {};
  for (const name of ENGINE_PORT_ETH_METHODS) out[name] = all[name];
  return out;
}

/** Every method name served on the Engine API port (engine_ ones from the capability list). */
export const ENGINE_PORT_METHODS: readonly string[] = [...ENGINE_CAPABILITIES, ...ENGINE_PORT_ETH_METHODS];
