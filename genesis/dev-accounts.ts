/**
 * Development accounts derived from a BIP-39 mnemonic on the standard Ethereum path
 * m/44'/60'/0'/0/i, as Hardhat and Anvil derive them. With the well-known test mnemonic they
 * are the same ten accounts those tools print, so wallets and scripts work unchanged.
 */
import { bytesToHex, privateToAddress } from "@ethereumjs/util";
import { mnemonicToSeedSync } from "ethereum-cryptography/bip39";
import { HDKey } from "ethereum-cryptography/hdkey";

export const TEST_MNEMONIC = "test test test test test test test test test test test junk";

export interface DevAccount {
  index: number;
  address: `0x${string}`;
  privateKey: `0x${string}`;
}

export function deriveDevAccounts(mnemonic: string, count: number, start = 0): DevAccount[] {
  const root = HDKey.fromMasterSeed(mnemonicToSeedSync(mnemonic));
  const accounts: DevAccount[] = [];
  for (let index = start; index < start + count; index++) {
    const key = root.derive(`m/44'/60'/0'/0/${index}`).privateKey;
    if (key === null) throw new Error(`cannot derive key ${index}`);
    accounts.push({
      index,
      address: bytesToHex(privateToAddress(key)),
      privateKey: bytesToHex(key),
    });
  }
  return accounts;
}
