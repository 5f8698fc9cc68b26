/**
 * The oGPU supply: 21,000,000 coins with 18 decimals, all allocated at genesis (SPEC.md section 3).
 */

export const DECIMALS = 18n;
export const ONE_OGPU = 10n ** DECIMALS;
export const MAX_SUPPLY_OGPU = 21_000_000n;
export const MAX_SUPPLY_WEI = MAX_SUPPLY_OGPU * ONE_OGPU;

export type AllocationShare = "ecosystem" | "community" | "team" | "providerRewards" | "reserve";

export interface ShareSpec {
  /** Whole oGPU. */
  readonly amount: bigint;
  readonly percent: number;
  readonly description: string;
  readonly release: string;
}

export const TOKEN_TABLE: Readonly<Record<AllocationShare, ShareSpec>> = {
  ecosystem: {
    amount: 2_100_000n,
    percent: 10,
    description: "network development and ecosystem",
    release: "at genesis",
  },
  community: {
    amount: 3_150_000n,
    percent: 15,
    description: "community rewards and airdrops",
    release: "at genesis",
  },
  team: {
    amount: 3_150_000n,
    percent: 15,
    description: "team and advisors",
    release: "linear over 3 years (vesting held by the chain)",
  },
  providerRewards: {
    amount: 10_500_000n,
    percent: 50,
    description: "GPU provider rewards",
    release: "released gradually over 10 years",
  },
  reserve: {
    amount: 2_100_000n,
    percent: 10,
    description: "reserve fund",
    release: "at genesis",
  },
};

export const SHARES = Object.keys(TOKEN_TABLE) as AllocationShare[];

/** Parses an oGPU amount ("1.5", "10000", "0.000000000000000001") into wei. */
export function parseOgpu(value: string): bigint {
  const match = /^(\d+)(?:\.(\d{1,18}))?$/.exec(value.trim());
  if (match === null) throw new Error(`invalid oGPU amount "${value}": expected a decimal number`);
  const whole = BigInt(match[1]);
  const fraction = BigInt((match[2] ?? "").padEnd(18, "0"));
  return whole * ONE_OGPU + fraction;
}

/** Formats wei as an oGPU decimal string without trailing zeros. */
export function formatOgpu(wei: bigint): string {
  const negative = wei < 0n;
  const abs = negative ? -wei : wei;
  const whole = abs / ONE_OGPU;
  const fraction = (abs % ONE_OGPU).toString().padStart(18, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** The provider-rewards allocation is released linearly over 10 years from genesis (SPEC.md section 3). */
export const PROVIDER_REWARDS_RELEASE_SECONDS = 10n * 365n * 24n * 3600n;
