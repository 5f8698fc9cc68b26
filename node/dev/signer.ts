/** Dev-mode signer: the prefunded dev accounts' keys, for eth_accounts and eth_sendTransaction. */
import { hexToBytes } from "@ethereumjs/util";
import type { DevAccount } from "../../genesis/dev-accounts.ts";
import type { DevSigner } from "../api/rpc/context.ts";
import { ecsign } from "../execution/crypto.ts";

export function devSigner(accounts: readonly DevAccount[]): DevSigner {
  const keys = new Map(accounts.map((a) => [a.address.toLowerCase(), hexToBytes(a.privateKey)]));
  return {
    addresses: () => accounts.map((a) => a.address),
    privateKey: (address) => keys.get(address.toLowerCase()),
    sign: (address, digest) => {
      const key = keys.get(address.toLowerCase());
      return key === undefined ? undefined : ecsign(digest, key);
    },
  };
}
