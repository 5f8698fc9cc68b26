import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevNodeHandle, startDevNode } from "./helpers/dev-node.ts";

describe("dev node JSON-RPC smoke", () => {
  let dev: DevNodeHandle;
  beforeAll(async () => {
    dev = await startDevNode({ automine: true });
  });
  afterAll(async () => {
    await dev.stop();
  });

  it("serves chain id, balances and blocks", async () => {
    expect(await dev.call("eth_chainId")).toBe("0x539");
    expect(await dev.call("eth_getBalance", [dev.accounts[0].address, "latest"])).toBe(
      "0x21e19e0c9bab2400000",
    );
    const block = await dev.call<{ number: string }>("eth_getBlockByNumber", ["0x0", false]);
    expect(block.number).toBe("0x0");
  });

  it("mines a dev-account transfer sent with eth_sendTransaction (automine)", async () => {
    const [from, to] = dev.accounts;
    const hash = await dev.call<string>("eth_sendTransaction", [
      { from: from.address, to: to.address, value: "0x1" },
    ]);
    const receipt = await dev.call<{ status: string; gasUsed: string; from: string }>(
      "eth_getTransactionReceipt",
      [hash],
    );
    expect(receipt.status).toBe("0x1");
    expect(receipt.gasUsed).toBe("0x5208");
    expect(receipt.from).toBe(from.address);
  });
});
