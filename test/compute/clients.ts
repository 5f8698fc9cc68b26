/** viem clients on a dev node for compute-layer tests. */
import {
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import type { DevNodeHandle } from "../helpers/dev-node.ts";

export function devChain(dev: DevNodeHandle): Chain {
  return defineChain({
    id: 1337,
    name: "OpenGPU dev",
    nativeCurrency: { name: "oGPU", symbol: "oGPU", decimals: 18 },
    rpcUrls: { default: { http: [dev.httpUrl] } },
  });
}

export interface Clients {
  chain: Chain;
  public: PublicClient;
  wallet(i: number): WalletClient<Transport, Chain, PrivateKeyAccount>;
  account(i: number): PrivateKeyAccount;
}

export function clientsFor(dev: DevNodeHandle): Clients {
  const chain = devChain(dev);
  const account = (i: number) => privateKeyToAccount(dev.accounts[i].privateKey as `0x${string}`);
  return {
    chain,
    public: createPublicClient({ chain, transport: http(dev.httpUrl) }) as PublicClient,
    account,
    wallet: (i) => createWalletClient({ chain, account: account(i), transport: http(dev.httpUrl) }),
  };
}
