/**
 * Engine API authentication: the shared JWT secret and HS256 tokens, as geth and every
 * consensus client implement them (execution-apis `authentication.md`).
 *
 * - The secret is 32 bytes, stored hex-encoded (with or without `0x`) in a file. A missing
 *   file is created with a fresh random secret and mode 0600, like geth's `--authrpc.jwtsecret`.
 * - A token is accepted only if its header says `alg: HS256`, its HMAC-SHA256 signature
 *   matches (constant-time compare), it carries an `iat` claim within 60 s of now (either way),
 *   and its optional `exp` has not passed. Rejections carry geth's messages.
 *
 * Owns: secret files, token signing (for our HTTP client) and verification (for the server).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { OpenGpuError } from "../../utils/errors.ts";

/** Why a token or a secret was refused. */
export const JwtErrorCode = {
  /** No `Authorization: Bearer <token>` header. */
  MISSING_TOKEN: "JWT_MISSING_TOKEN",
  /** Not three base64url parts, or a part is not the JSON it should be. */
  MALFORMED: "JWT_MALFORMED",
  /** The header names another algorithm than HS256 (including `none`). */
  BAD_ALGORITHM: "JWT_BAD_ALGORITHM",
  /** The signature does not match the secret. */
  BAD_SIGNATURE: "JWT_BAD_SIGNATURE",
  /** No `iat` claim. */
  MISSING_IAT: "JWT_MISSING_IAT",
  /** `iat` more than 60 s in the past. */
  STALE: "JWT_STALE",
  /** `iat` more than 60 s in the future. */
  FUTURE: "JWT_FUTURE",
  /** `exp` has passed. */
  EXPIRED: "JWT_EXPIRED",
  /** The secret file does not hold 32 hex-encoded bytes. */
  INVALID_SECRET: "JWT_INVALID_SECRET",
} as const;
export type JwtErrorCode = (typeof JwtErrorCode)[keyof typeof JwtErrorCode];

export class JwtError extends OpenGpuError<JwtErrorCode> {
  override name = "JwtError";
}

/** Largest allowed distance between a token's `iat` and now, in seconds (geth: 60 s). */
export const JWT_IAT_WINDOW_SECONDS = 60;
export const JWT_SECRET_LENGTH = 32;

export interface JwtClaims {
  iat: number;
  exp?: number;
  /** Client identity (optional; execution-apis suggests it for logging). */
  id?: string;
  /** Client version (optional). */
  clv?: string;
}

const base64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");

function hmac(secret: Uint8Array, input: string): Buffer {
  return createHmac("sha256", secret).update(input).digest();
}

/** Parses a secret as stored in a file: 64 hex digits, optional `0x`, surrounding whitespace ignored. */
export function parseJwtSecret(text: string): Uint8Array {
  const trimmed = text.trim();
  const digits = trimmed.startsWith("0x") || trimmed.startsWith("0X") ? trimmed.slice(2) : trimmed;
  if (!/^[0-9a-fA-F]*$/.test(digits) || digits.length !== JWT_SECRET_LENGTH * 2) {
    throw new JwtError(
      JwtErrorCode.INVALID_SECRET,
      `invalid JWT secret: want ${JWT_SECRET_LENGTH} hex-encoded bytes (${JWT_SECRET_LENGTH * 2} hex digits)`,
    );
  }
  return Uint8Array.from(Buffer.from(digits, "hex"));
}

/**
 * Reads the secret from `path`, or, if there is no such file, generates one and writes it
 * (`0x`-prefixed hex, mode 0600; parent directories are created). `created` tells which.
 */
export function loadOrCreateJwtSecret(path: string): { secret: Uint8Array; created: boolean } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    const secret = Uint8Array.from(randomBytes(JWT_SECRET_LENGTH));
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // "wx": never overwrite a secret another process wrote in the meantime.
    writeFileSync(path, `0x${Buffer.from(secret).toString("hex")}`, { mode: 0o600, flag: "wx" });
    return { secret, created: true };
  }
  try {
    return { secret: parseJwtSecret(text), created: false };
  } catch (err) {
    if (err instanceof JwtError) throw new JwtError(err.code, `${err.message} in ${path}`, { path });
    throw err;
  }
}

/** Signs an HS256 token with `iat` = now (seconds) unless given. */
export function signJwt(
  secret: Uint8Array,
  claims: Partial<JwtClaims> = {},
  now = Math.floor(Date.now() / 1000),
): string {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = base64url(JSON.stringify({ iat: now, ...claims }));
  const signature = base64url(hmac(secret, `${header}.${payload}`));
  return `${header}.${payload}.${signature}`;
}

const BASE64URL_RE = /^[A-Za-z0-9_-]*$/;

function decodeJsonPart(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    throw new JwtError(JwtErrorCode.MALFORMED, `token is malformed: could not JSON decode ${what}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new JwtError(JwtErrorCode.MALFORMED, `token is malformed: ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function numericClaim(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new JwtError(JwtErrorCode.MALFORMED, `token is malformed: ${name} is not a number`);
  }
  return value;
}

/**
 * Verifies a compact HS256 token against `secret`; returns its claims or throws `JwtError`.
 * The algorithm is checked before the signature so `alg: none` tokens never get further.
 */
export function verifyJwt(token: string, secret: Uint8Array, now = Date.now() / 1000): JwtClaims {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => BASE64URL_RE.test(p))) {
    throw new JwtError(
      JwtErrorCode.MALFORMED,
      "token is malformed: token contains an invalid number of segments",
    );
  }
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = decodeJsonPart(headerPart, "header");
  if (header.alg !== "HS256") {
    throw new JwtError(
      JwtErrorCode.BAD_ALGORITHM,
      `token signature is invalid: signing method ${String(header.alg)} is invalid`,
    );
  }
  const expected = hmac(secret, `${headerPart}.${payloadPart}`);
  const given = Buffer.from(signaturePart, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new JwtError(JwtErrorCode.BAD_SIGNATURE, "token signature is invalid: signature is invalid");
  }
  const claims = decodeJsonPart(payloadPart, "claims");
  const exp = numericClaim(claims, "exp");
  if (exp !== undefined && now > exp) throw new JwtError(JwtErrorCode.EXPIRED, "token is expired");
  const iat = numericClaim(claims, "iat");
  if (iat === undefined) throw new JwtError(JwtErrorCode.MISSING_IAT, "missing issued-at");
  if (now - iat > JWT_IAT_WINDOW_SECONDS) throw new JwtError(JwtErrorCode.STALE, "stale token");
  if (iat - now > JWT_IAT_WINDOW_SECONDS) throw new JwtError(JwtErrorCode.FUTURE, "future token");
  return {
    iat,
    exp,
    id: typeof claims.id === "string" ? claims.id : undefined,
    clv: typeof claims.clv === "string" ? claims.clv : undefined,
  };
}

/** Verifies the value of an `Authorization` header (`Bearer <token>`). */
export function verifyAuthorization(header: string | undefined, secret: Uint8Array, now?: number): JwtClaims {
  const token = header?.startsWith("Bearer ") === true ? header.slice("Bearer ".length).trim() : "";
  if (token.length === 0) throw new JwtError(JwtErrorCode.MISSING_TOKEN, "missing token");
  return verifyJwt(token, secret, now);
}
