/**
 * OpenGPU's native system contracts, as ethereumjs custom precompiles at their fixed addresses
 * (`addresses.ts`). The execution layer installs them on every EVM of an OpenGPU network
 * (node/execution/executor/vm.ts); their accounts exist from genesis with a one-byte marker
 * code (`0xfe`) so that Solidity callers' extcodesize checks pass.
 */
import type { CustomPrecompile } from "@ethereumjs/evm";
import { createAddressFromString } from "@ethereumjs/util";
import { SYSTEM_CONTRACT_ADDRESSES } from "./addresses.ts";
import { modelRegistryPrecompile } from "./model-registry/index.ts";
import { providerRegistryPrecompile } from "./provider-registry/index.ts";
import { taskMarketPrecompile } from "./task-market/index.ts";

export function systemPrecompiles(): CustomPrecompile[] {
  return [
    {
      address: createAddressFromString(SYSTEM_CONTRACT_ADDRESSES.providerRegistry),
      function: providerRegistryPrecompile,
    },
    {
      address: createAddressFromString(SYSTEM_CONTRACT_ADDRESSES.taskMarket),
      function: taskMarketPrecompile,
    },
    {
      address: createAddressFromString(SYSTEM_CONTRACT_ADDRESSES.modelRegistry),
      function: modelRegistryPrecompile,
    },
  ];
}
