import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  JwtError,
  JwtErrorCode,
  loadOrCreateJwtSecret,
  parseJwtSecret,
  signJwt,
  verifyJwt,
} from "../../node/api/engine/index.ts";

const secret = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const now = Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

function signWith(alg: string, header: unknown, claims: unknown, key: Uint8Array = secret): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac(alg, key).update(input).digest("base64url")}`;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof JwtError) return err.code;
    throw err;
  }
  return undefined;
}

describe("JWT (HS256)", () => {
  it("accepts its own tokens and tokens within 60 s of now", () => {
    expect(verifyJwt(signJwt(secret), secret).iat).toBeGreaterThan(0);
    expect(verifyJwt(signJwt(secret, { id: "cl", clv: "v1" }), secret)).toMatchObject({
      id: "cl",
      clv: "v1",
    });
    expect(verifyJwt(signJwt(secret, {}, now - 59), secret, now).iat).toBe(now - 59);
    expect(verifyJwt(signJwt(secret, {}, now + 59), secret, now).iat).toBe(now + 59);
    // A token as another implementation writes it (no typ, extra claims).
    expect(verifyJwt(signWith("sha256", { alg: "HS256" }, { iat: now, foo: 1 }), secret, now).iat).toBe(now);
  });

  it("rejects stale, future, expired and iat-less tokens", () => {
    expect(codeOf(() => verifyJwt(signJwt(secret, {}, now - 61), secret, now))).toBe(JwtErrorCode.STALE);
    expect(codeOf(() => verifyJwt(signJwt(secret, {}, now + 61), secret, now))).toBe(JwtErrorCode.FUTURE);
    expect(codeOf(() => verifyJwt(signJwt(secret, { exp: now - 1 }, now), secret, now))).toBe(
      JwtErrorCode.EXPIRED,
    );
    expect(codeOf(() => verifyJwt(signWith("sha256", { alg: "HS256" }, { foo: 1 }), secret, now))).toBe(
      JwtErrorCode.MISSING_IAT,
    );
    expect(codeOf(() => verifyJwt(signWith("sha256", { alg: "HS256" }, { iat: "1" }), secret, now))).toBe(
      JwtErrorCode.MALFORMED,
    );
  });

  it("rejects other algorithms, bad signatures and malformed tokens", () => {
    expect(codeOf(() => verifyJwt(signWith("sha512", { alg: "HS512" }, { iat: now }), secret, now))).toBe(
      JwtErrorCode.BAD_ALGORITHM,
    );
    expect(codeOf(() => verifyJwt(`${b64({ alg: "none" })}.${b64({ iat: now })}.`, secret, now))).toBe(
      JwtErrorCode.BAD_ALGORITHM,
    );
    // HS256 header but signed with SHA-512 (longer signature) or another key.
    expect(codeOf(() => verifyJwt(signWith("sha512", { alg: "HS256" }, { iat: now }), secret, now))).toBe(
      JwtErrorCode.BAD_SIGNATURE,
    );
    const other = new Uint8Array(32).fill(7);
    expect(codeOf(() => verifyJwt(signJwt(other, {}, now), secret, now))).toBe(JwtErrorCode.BAD_SIGNATURE);
    const token = signJwt(secret, {}, now);
    const [h, , s] = token.split(".");
    expect(codeOf(() => verifyJwt(`${h}.${b64({ iat: now + 1 })}.${s}`, secret, now))).toBe(
      JwtErrorCode.BAD_SIGNATURE,
    );
    for (const bad of ["", "a.b", "a.b.c.d", "@@.@@.@@", `${b64([1])}.${b64({ iat: now })}.x`]) {
      expect(codeOf(() => verifyJwt(bad, secret, now))).toBe(JwtErrorCode.MALFORMED);
    }
  });
});

describe("JWT secret file", () => {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-jwt-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("parses 32 hex bytes with or without 0x and whitespace", () => {
    const hex = Buffer.from(secret).toString("hex");
    expect(parseJwtSecret(hex)).toEqual(secret);
    expect(parseJwtSecret(`0x${hex}\n`)).toEqual(secret);
    expect(codeOf(() => parseJwtSecret(hex.slice(2)))).toBe(JwtErrorCode.INVALID_SECRET);
    expect(codeOf(() => parseJwtSecret(`${hex.slice(2)}zz`))).toBe(JwtErrorCode.INVALID_SECRET);
  });

  it("creates a missing secret file with mode 0600, then loads the same secret", () => {
    const path = join(dir, "sub", "jwtsecret");
    const first = loadOrCreateJwtSecret(path);
    expect(first.created).toBe(true);
    expect(first.secret.length).toBe(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toMatch(/^0x[0-9a-f]{64}$/);
    const second = loadOrCreateJwtSecret(path);
    expect(second.created).toBe(false);
    expect(second.secret).toEqual(first.secret);
  });

  it("refuses a file that does not hold a valid secret", () => {
    const path = join(dir, "bad");
    writeFileSync(path, "0x1234");
    expect(codeOf(() => loadOrCreateJwtSecret(path))).toBe(JwtErrorCode.INVALID_SECRET);
  });
});
