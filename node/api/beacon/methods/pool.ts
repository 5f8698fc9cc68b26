/**
 * The operation pool routes of the Beacon API: what waits for inclusion (voluntary exits,
 * proposer and attester slashings, BLS-to-execution changes) and their submission. A submitted
 * operation is checked against the head state with the state transition's rules before it enters
 * the pool; a refusal is a 400 with the reason (staking tools such as `ethdo` and Lodestar's
 * `validator voluntary-exit` post exits here).
 */
import type { routes } from "@lodestar/api";
import { ApiError, type ApplicationMethods } from "@lodestar/api/server";
import { ForkName } from "@lodestar/params";
import type { OpPool } from "../../../consensus/op-pools/op-pool.ts";
import { OperationError, type OperationSubmitter } from "../../../consensus/op-pools/submit.ts";
import { errorMessage } from "../../../utils/errors.ts";

export type PoolMethodId =
  | "getPoolVoluntaryExits"
  | "getPoolProposerSlashings"
  | "getPoolAttesterSlashingsV2"
  | "getPoolBLSToExecutionChanges"
  | "submitPoolVoluntaryExit"
  | "submitPoolProposerSlashings"
  | "submitPoolAttesterSlashingsV2"
  | "submitPoolBLSToExecutionChange";

export type PoolMethods = Pick<ApplicationMethods<routes.beacon.Endpoints>, PoolMethodId>;

/** Runs a submission; an operation the head state refuses is the client's error (400). */
function submitting(run: () => void): void {
  try {
    run();
  } catch (err) {
    if (err instanceof OperationError) throw new ApiError(400, err.message);
    throw err;
  }
}

export function poolMethods(pool: OpPool, submit: OperationSubmitter): PoolMethods {
  return {
    async getPoolVoluntaryExits() {
      return { data: pool.pending().voluntaryExits };
    },
    async getPoolProposerSlashings() {
      return { data: pool.pending().proposerSlashings };
    },
    async getPoolAttesterSlashingsV2() {
      return { data: pool.pending().attesterSlashings, meta: { version: ForkName.electra } };
    },
    async getPoolBLSToExecutionChanges() {
      return { data: pool.pending().blsToExecutionChanges };
    },
    async submitPoolVoluntaryExit({ signedVoluntaryExit }) {
      submitting(() => submit.voluntaryExit(signedVoluntaryExit));
    },
    async submitPoolProposerSlashings({ proposerSlashing }) {
      submitting(() => submit.proposerSlashing(proposerSlashing));
    },
    async submitPoolAttesterSlashingsV2({ attesterSlashing }) {
      submitting(() =>
        submit.attesterSlashing(attesterSlashing as Parameters<typeof submit.attesterSlashing>[0]),
      );
    },
    async submitPoolBLSToExecutionChange({ blsToExecutionChanges }) {
      // Each change stands alone: the valid ones enter the pool, the failures are listed by index.
      const failures: string[] = [];
      blsToExecutionChanges.forEach((change, i) => {
        try {
          submit.blsToExecutionChange(change);
        } catch (err) {
          failures.push(`${i}: ${errorMessage(err)}`);
        }
      });
      if (failures.length > 0)
        throw new ApiError(400, `some BLS-to-execution changes were refused: ${failures.join("; ")}`);
    },
  };
}
