/**
 * Errors of the req/resp protocols, on both sides of a request. A requester gets the code of
 * what went wrong (timeouts, the responder's error answer, a malformed or inconsistent
 * response); a responder maps its own failures to the response code it answers with
 * (`responseCodeOf`).
 */
import { OpenGpuError } from "../../utils/errors.ts";

/** Response codes (the first byte of each response chunk). */
export const ResponseCode = {
  SUCCESS: 0,
  INVALID_REQUEST: 1,
  SERVER_ERROR: 2,
  RESOURCE_UNAVAILABLE: 3,
  /** Client-specific range (128-255): the request exceeds the peer's rate limit (as Lighthouse and Lodestar use it). */
  RATE_LIMITED: 139,
} as const;
export type ResponseCode = (typeof ResponseCode)[keyof typeof ResponseCode];

export const ReqRespErrorCode = {
  /** The stream could not be opened: no connection, dial failure, protocol not supported. */
  DIAL_FAILED: "REQRESP_DIAL_FAILED",
  /** No response byte within the time-to-first-byte timeout. */
  TTFB_TIMEOUT: "REQRESP_TTFB_TIMEOUT",
  /** A response chunk took longer than the response timeout. */
  RESP_TIMEOUT: "REQRESP_RESP_TIMEOUT",
  /** (Responder) the request did not arrive in time. */
  REQUEST_TIMEOUT: "REQRESP_REQUEST_TIMEOUT",
  /** The request is malformed or semantically invalid (answer code 1, or refused locally). */
  INVALID_REQUEST: "REQRESP_INVALID_REQUEST",
  /** The responder failed (answer code 2). */
  SERVER_ERROR: "REQRESP_SERVER_ERROR",
  /** The responder does not have the resource (answer code 3). */
  RESOURCE_UNAVAILABLE: "REQRESP_RESOURCE_UNAVAILABLE",
  /** Refused by a rate limit or the concurrent-request limit (answer code 139). */
  RATE_LIMITED: "REQRESP_RATE_LIMITED",
  /** An error answer with a code this node does not know. */
  UNKNOWN_ERROR_CODE: "REQRESP_UNKNOWN_ERROR_CODE",
  /** The response is malformed, oversize, or inconsistent with the request. */
  INVALID_RESPONSE: "REQRESP_INVALID_RESPONSE",
  /** The responder closed the stream without the chunk the protocol requires. */
  EMPTY_RESPONSE: "REQRESP_EMPTY_RESPONSE",
  /** The stream was reset or closed under the exchange. */
  STREAM_ERROR: "REQRESP_STREAM_ERROR",
  /** A received blob does not hash to the requested sha256. */
  BLOB_HASH_MISMATCH: "REQRESP_BLOB_HASH_MISMATCH",
  /** A blob is larger than the requester accepts. */
  BLOB_TOO_LARGE: "REQRESP_BLOB_TOO_LARGE",
  /** The req/resp service was stopped. */
  STOPPED: "REQRESP_STOPPED",
} as const;
export type ReqRespErrorCode = (typeof ReqRespErrorCode)[keyof typeof ReqRespErrorCode];

export class ReqRespError extends OpenGpuError<ReqRespErrorCode> {
  override name = "ReqRespError";
}

/** The error a requester raises for an error answer `code` with `message`. */
export function errorOfResponse(code: number, message: string, meta: Record<string, unknown>): ReqRespError {
  const text = message === "" ? "(no message)" : message;
  switch (code) {
    case ResponseCode.INVALID_REQUEST:
      return new ReqRespError(ReqRespErrorCode.INVALID_REQUEST, `peer rejected the request: ${text}`, meta);
    case ResponseCode.SERVER_ERROR:
      return new ReqRespError(ReqRespErrorCode.SERVER_ERROR, `peer failed: ${text}`, meta);
    case ResponseCode.RESOURCE_UNAVAILABLE:
      return new ReqRespError(
        ReqRespErrorCode.RESOURCE_UNAVAILABLE,
        `peer lacks the resource: ${text}`,
        meta,
      );
    case ResponseCode.RATE_LIMITED:
      return new ReqRespError(ReqRespErrorCode.RATE_LIMITED, `peer rate-limited us: ${text}`, meta);
    default:
      return new ReqRespError(
        ReqRespErrorCode.UNKNOWN_ERROR_CODE,
        `peer answered error ${code}: ${text}`,
        meta,
      );
  }
}

/** The response code a responder answers with for an error it hit. */
export function responseCodeOf(err: ReqRespError): number {
  switch (err.code) {
    case ReqRespErrorCode.INVALID_REQUEST:
    case ReqRespErrorCode.REQUEST_TIMEOUT:
      return ResponseCode.INVALID_REQUEST;
    case ReqRespErrorCode.RESOURCE_UNAVAILABLE:
      return ResponseCode.RESOURCE_UNAVAILABLE;
    case ReqRespErrorCode.RATE_LIMITED:
      return ResponseCode.RATE_LIMITED;
    default:
      return ResponseCode.SERVER_ERROR;
  }
}

/** Metric label of an outcome: "success" or the error code without its prefix, lower case. */
export function outcomeOf(err: ReqRespError | undefined): string {
  return err === undefined ? "success" : err.code.replace(/^REQRESP_/, "").toLowerCase();
}
