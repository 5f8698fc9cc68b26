import { MerklePatriciaTrie } from "@ethereumjs/mpt";
import { RLP } from "@ethereumjs/rlp";
import { bytesToHex, KECCAK256_RLP } from "@ethereumjs/util";
import { describe, expect, it } from "vitest";
import { orderedTrieRoot, trieRoot } from "./ordered.ts";

function prng(seed: number) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x;
  };
}

async function reference(entries: [Uint8Array, Uint8Array][]): Promise<string> {
  const trie = new MerklePatriciaTrie();
  for (const [k, v] of entries) await trie.put(k, v);
  return bytesToHex(trie.root());
}

describe("trieRoot", () => {
  it("is the empty-trie root for no entries", () => {
    expect(trieRoot([])).toEqual(KECCAK256_RLP);
  });

  for (const count of [1, 2, 3, 16, 17, 127, 128, 129, 300, 1000]) {
    it(`matches @ethereumjs/mpt for ${count} ordered items of mixed sizes`, async () => {
      const rand = prng(count);
      const values = Array.from({ length: count }, () => {
        const length = 1 + (rand() % 120);
        return Uint8Array.from({ length }, () => rand() & 255);
      });
      const expected = await reference(values.map((v, i) => [RLP.encode(i), v]));
      expect(bytesToHex(orderedTrieRoot(values))).toBe(expected);
    });
  }

  it("matches @ethereumjs/mpt for random keys, including keys that prefix others", async () => {
    const rand = prng(7);
    const entries: [Uint8Array, Uint8Array][] = [];
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const key = Uint8Array.from({ length: 1 + (rand() % 4) }, () => rand() & 0x1f);
      if (seen.has(bytesToHex(key))) continue;
      seen.add(bytesToHex(key));
      entries.push([key, Uint8Array.from({ length: 1 + (rand() % 40) }, () => rand() & 255)]);
    }
    expect(bytesToHex(trieRoot(entries))).toBe(await reference(entries));
  });
});
