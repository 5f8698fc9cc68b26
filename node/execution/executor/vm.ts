/**
 * The one place VMs are created for the chain: OpenGPU networks get the native system contracts
 * (precompiles/) installed on every EVM, so block building, import, calls, tracing and
 * simulation all run the same contracts.
 */
import type { Common } from "@ethereumjs/common";
import type { EVM, EVMMockBlockchainInterface } from "@ethereumjs/evm";
import type { MerkleStateManager } from "@ethereumjs/statemanager";
import { createVM, type VM } from "@ethereumjs/vm";
import { installSystemContracts } from "../../../precompiles/framework/system-call.ts";
import { systemPrecompiles } from "../../../precompiles/index.ts";

export interface ChainVMOptions {
  common: Common;
  stateManager: MerkleStateManager;
  blockchain: EVMMockBlockchainInterface;
  /** Install OpenGPU's native system contracts (OpenGPU networks only). */
  systemContracts: boolean;
}

export async function createChainVM(opts: ChainVMOptions): Promise<VM> {
  // A copy of the Common: every EVM subscribes to its Common's hardfork events and never
  // unsubscribes, so sharing one instance would keep every VM ever created alive.
  const vm = await createVM({
    common: opts.common.copy(),
    stateManager: opts.stateManager,
    blockchain: opts.blockchain,
    ...(opts.systemContracts ? { evmOpts: { customPrecompiles: systemPrecompiles() } } : {}),
  });
  if (opts.systemContracts) installSystemContracts(vm.evm as EVM);
  return vm;
}
