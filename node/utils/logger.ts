/**
 * Structured logging (pino). Every module gets a child logger carrying its `module` name.
 *
 * Format: `json` writes one JSON object per line (for log shippers); `text` writes
 * `HH:MM:SS.mmm LEVEL module  message key=value ...` for people at a terminal. The default is
 * text on a TTY and JSON otherwise. Secrets are never passed to the logger.
 */
import { Writable } from "node:stream";
import { type Logger as PinoLogger, pino } from "pino";

export type Logger = PinoLogger;
export type LogFormat = "text" | "json";
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Destination stream; stderr by default so stdout stays clean for command output. */
  destination?: NodeJS.WritableStream;
}

const LEVEL_NAMES: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO ",
  40: "WARN ",
  50: "ERROR",
  60: "FATAL",
};
const OMIT = new Set(["level", "time", "pid", "hostname", "msg", "module"]);

function formatValue(value: unknown): string {
  if (typeof value === "string") return /\s/.test(value) || value === "" ? JSON.stringify(value) : value;
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}

/** Turns pino's JSON lines into human-readable lines. */
export function textFormatter(out: NodeJS.WritableStream): Writable {
  let buffered = "";
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      buffered += chunk.toString("utf8");
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          out.write(`${line}\n`);
          continue;
        }
        const time = new Date(Number(record.time)).toISOString().slice(11, 23);
        const level = LEVEL_NAMES[Number(record.level)] ?? String(record.level);
        const module = typeof record.module === "string" ? record.module.padEnd(8) : "        ";
        const fields = Object.entries(record)
          .filter(([k]) => !OMIT.has(k))
          .map(([k, v]) => `${k}=${formatValue(v)}`)
          .join(" ");
        out.write(`${time} ${level} ${module} ${String(record.msg ?? "")}${fields ? ` ${fields}` : ""}\n`);
      }
      done();
    },
  });
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const destination = opts.destination ?? process.stderr;
  const format = opts.format ?? ((destination as { isTTY?: boolean }).isTTY ? "text" : "json");
  const stream = format === "text" ? textFormatter(destination) : destination;
  return pino(
    {
      level: opts.level ?? "info",
      base: undefined,
      // bigints (block numbers, wei) are common in our log fields
      hooks: {
        logMethod(args, method) {
          return method.apply(
            this,
            args.map((a) => (typeof a === "object" && a !== null ? bigintsToStrings(a) : a)) as never,
          );
        },
      },
    },
    stream as never,
  );
}

function bigintsToStrings(value: object): object {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = typeof v === "bigint" ? v.toString() : v;
  return out;
}

/** A logger that discards everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
