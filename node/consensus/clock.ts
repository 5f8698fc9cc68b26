/**
 * The beacon slot clock: which slot and epoch it is, and events at slot boundaries.
 *
 * Time comes from an injectable `now()` (ms) so tests can drive it; timers re-arm from the
 * wall clock every slot, so they never drift. Slot 0 starts at genesis; before genesis the
 * current slot is 0 and the first 'slot' event fires at slot 1.
 */
import { TypedEmitter } from "../utils/events.ts";

export interface ClockOptions {
  /** Unix seconds of slot 0. */
  genesisTime: number;
  secondsPerSlot: number;
  slotsPerEpoch: number;
  now?: () => number;
}

export interface ClockEvents {
  /** A new slot started. */
  slot: (slot: number) => void;
  /** A new epoch started (fired after the 'slot' event of its first slot). */
  epoch: (epoch: number) => void;
}

export class SlotClock extends TypedEmitter<ClockEvents> {
  readonly genesisTime: number;
  readonly secondsPerSlot: number;
  readonly slotsPerEpoch: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private lastSlot = -1;

  constructor(opts: ClockOptions) {
    super();
    this.genesisTime = opts.genesisTime;
    this.secondsPerSlot = opts.secondsPerSlot;
    this.slotsPerEpoch = opts.slotsPerEpoch;
    this.now = opts.now ?? Date.now;
  }

  get slotMs(): number {
    return this.secondsPerSlot * 1000;
  }

  /** The current slot (0 before genesis). */
  get currentSlot(): number {
    const elapsed = this.now() - this.genesisTime * 1000;
    return elapsed < 0 ? 0 : Math.floor(elapsed / this.slotMs);
  }

  get currentEpoch(): number {
    return Math.floor(this.currentSlot / this.slotsPerEpoch);
  }

  /** Unix ms when `slot` starts. */
  slotStartMs(slot: number): number {
    return this.genesisTime * 1000 + slot * this.slotMs;
  }

  /** Milliseconds since the start of the current slot. */
  msIntoSlot(): number {
    return this.now() - this.slotStartMs(this.currentSlot);
  }

  /** Resolves at `fractionBps` (basis points of a slot) into `slot`, immediately if past. */
  waitUntil(slot: number, fractionBps = 0): Promise<void> {
    const at = this.slotStartMs(slot) + (this.slotMs * fractionBps) / 10_000;
    const delay = at - this.now();
    if (delay <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, delay);
      t.unref?.();
    });
  }

  start(): void {
    this.lastSlot = this.currentSlot;
    this.schedule();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const next = this.currentSlot + 1;
    const delay = Math.max(0, this.slotStartMs(next) - this.now());
    this.timer = setTimeout(() => this.tick(), delay);
  }

  private tick(): void {
    const slot = this.currentSlot;
    // Catch up on every slot boundary crossed (the event loop may have been busy).
    while (this.lastSlot < slot) {
      this.lastSlot++;
      this.emit("slot", this.lastSlot);
      if (this.lastSlot % this.slotsPerEpoch === 0) this.emit("epoch", this.lastSlot / this.slotsPerEpoch);
    }
    if (this.timer !== undefined) this.schedule();
  }
}
