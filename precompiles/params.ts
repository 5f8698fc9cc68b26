/**
 * The compute layer's protocol parameters, in one place (SPEC.md section 4: changed later by
 * on-chain governance; until governance exists they are these constants, the same on every
 * OpenGPU network). `TaskMarket.params()` returns them on chain. Windows are in seconds of block
 * time; fractions in basis points (1/10,000).
 */
import { ONE_OGPU } from "../genesis/token.ts";

export interface ComputeParams {
  /** Smallest stake a provider may register or stay active with. */
  minProviderStake: bigint;
  /** Delay between `unbond` and `withdraw`. */
  unbondingPeriod: bigint;
  /** Shortest sealed-bid (commit) phase a client may ask for. */
  minBiddingWindow: bigint;
  /** Length of the reveal phase after the commit phase. */
  revealWindow: bigint;
  /** Time the committee has from its draw to settle. */
  verifyWindow: bigint;
  maxCommitteeSize: number;
  /**
   * Share of the committee stake a verdict needs: 2/3, shown in basis points rounded up (6,667);
   * the check itself is exact (`hasQuorum`).
   */
  quorumBps: number;
  /** Assignments per task (the first and its reassignments, and committee redraws). */
  maxRounds: number;
  /** Largest input carried inline in `submitTask` (bytes); larger inputs go by blob reference. */
  maxInlineInput: number;
  /** Smallest verification fee per committee member. */
  minFeePerMember: bigint;
  /** Slash of a provider whose result the committee rejects. */
  rejectSlashBps: number;
  /** Slash of a provider that misses its execution deadline. */
  missSlashBps: number;
  /** Slash of a committee member who voted against the quorum. */
  dissentSlashBps: number;
  /** Part of a client's deposit slashed when the committee attests the task is invalid. */
  invalidTaskSlashBps: number;
  /** How long a slashed provider may not bid or sit on committees. */
  jailPeriod: bigint;
  /** Shortest execution timeout a client may ask for. */
  minExecutionTimeout: bigint;
  /** Longest window (bidding, execution) or deadline distance a client may ask for. */
  maxWindow: bigint;
  /**
   * Bonus for providers that also validate (SPEC.md section 4), in basis points of the price of
   * each task they complete, paid from the released part of the provider-rewards pool.
   */
  validatorBonusBps: number;
  /** How long a validator proof (IProviderRegistry.proveValidator) earns the bonus. */
  validatorProofTtl: bigint;
}

export const COMPUTE_PARAMS: Readonly<ComputeParams> = Object.freeze({
  minProviderStake: 100n * ONE_OGPU,
  unbondingPeriod: 600n,
  minBiddingWindow: 4n,
  revealWindow: 4n,
  verifyWindow: 60n,
  maxCommitteeSize: 16,
  quorumBps: 6_667,
  maxRounds: 4,
  maxInlineInput: 96 * 1024,
  minFeePerMember: 10n ** 15n,
  rejectSlashBps: 1_000,
  missSlashBps: 200,
  dissentSlashBps: 100,
  invalidTaskSlashBps: 2_000,
  jailPeriod: 600n,
  minExecutionTimeout: 4n,
  maxWindow: 7n * 24n * 3600n,
  validatorBonusBps: 1_000,
  validatorProofTtl: 24n * 3600n,
});

/** How slashed amounts are split (basis points of the slashed amount; each row sums to 10,000). */
export const SLASH_SPLITS = Object.freeze({
  /** A rejected result: the client is compensated, the committee paid for its work, the rest burned. */
  reject: { client: 5_000, committee: 2_500, burn: 2_500 },
  /** A missed deadline: the client is compensated, the rest burned. */
  miss: { client: 5_000, committee: 0, burn: 5_000 },
  /** A dissenting committee member: burned. */
  dissent: { client: 0, committee: 0, burn: 10_000 },
  /** An invalid task (client's deposit): the provider and committee are paid for their work. */
  invalidTask: { provider: 4_000, committee: 3_000, burn: 3_000 },
});

/** Whether `stake` is at least 2/3 of a committee's `total` stake (exact, no rounding). */
export function hasQuorum(stake: bigint, total: bigint): boolean {
  return total > 0n && stake * 3n >= total * 2n;
}
