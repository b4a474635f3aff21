/**
 * TRUST_PROXY as a hop count: the client address is the X-Forwarded-For entry that many hops from the right
 * (each trusted proxy appends its peer), on both hosts, and entries a client writes itself never choose its
 * rate-limit bucket. Topologies as in docs/DEPLOYMENT.md ("Client addresses").
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientAddress } from "../../shared/access/client-identity";
import { parseConfig } from "../../shared/ops/config";
import { functionsHost, standaloneHost, testService, type Host } from "../support/hosts";
import { SEED_HOUSE } from "../../shared/input/features";

const body = JSON.stringify(SEED_HOUSE);
const predict = (host: Host, xff?: string) =>
  host
    .send("POST", "/predict", {
      body,
      headers: { "content-type": "application/json", ...(xff === undefined ? {} : { "x-forwarded-for": xff }) },
    })
    .then((r) => r.status);

describe("TRUST_PROXY configuration", () => {
  it.each([
    ["", 0],
    ["false", 0],
    ["0", 0],
    ["no", 0],
    ["true", 1],
    ["yes", 1],
    ["1", 1],
    ["2", 2],
    ["3", 3],
  ])("reads %j as %i trusted proxies", (value, hops) => {
    expect(parseConfig({ TRUST_PROXY: value }).TRUST_PROXY).toBe(hops);
  });

  it("defaults to 0 (no proxy: the socket's peer)", () => {
    expect(parseConfig({}).TRUST_PROXY).toBe(0);
  });

  it.each(["-1", "2.5", "many", "11", " 2x"])("rejects %j, naming the key", (value) => {
    expect(() => parseConfig({ TRUST_PROXY: value })).toThrow(/TRUST_PROXY/);
  });
});

describe("clientAddress", () => {
  it("uses the peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(clientAddress("6.6.6.6", "10.1.2.3", 0)).toBe("10.1.2.3");
  });

  it("takes the entry `hops` from the right: interceptor only (1), ingress + interceptor (2)", () => {
    // The client wrote 6.6.6.6; the ingress appended the client 203.0.113.7; the interceptor appended the ingress pod.
    const xff = "6.6.6.6, 203.0.113.7, 10.244.1.9";
    expect(clientAddress(xff, "10.244.0.5", 1)).toBe("10.244.1.9");
    expect(clientAddress(xff, "10.244.0.5", 2)).toBe("203.0.113.7");
    expect(clientAddress(xff, "10.244.0.5", 3)).toBe("6.6.6.6");
  });

  it("falls back to the leftmost entry when there are fewer entries than hops (in-cluster caller behind one proxy)", () => {
    expect(clientAddress("10.244.3.4", "10.244.0.5", 2)).toBe("10.244.3.4");
  });

  it("uses the peer when a trusted proxy sent no X-Forwarded-For (probes, scrapes)", () => {
    expect(clientAddress(undefined, "10.244.0.1", 2)).toBe("10.244.0.1");
    expect(clientAddress(" , ", "10.244.0.1", 1)).toBe("10.244.0.1");
  });

  it("strips ports (Azure's front end writes ip:port) and IPv6 brackets", () => {
    expect(clientAddress("198.51.100.2:4567", undefined, 1)).toBe("198.51.100.2");
    expect(clientAddress("[2001:db8::1]:443", undefined, 1)).toBe("2001:db8::1");
    expect(clientAddress("2001:db8::2", undefined, 1)).toBe("2001:db8::2");
  });
});

/**
 * Spoofing: one real client (its address is the entry the trusted proxies append) sending a different
 * made-up X-Forwarded-For prefix on every request still lands in one bucket (limit 2 -> the third is 429),
 * while two real clients behind the same proxies get separate buckets.
 */
describe.each(["standalone", "functions"] as const)("rate-limit buckets behind proxies on the %s host", (kind) => {
  const start = async (trust: string): Promise<Host> => {
    const service = testService({ RATE_LIMIT_REQUESTS: "2", RATE_LIMIT_WINDOW_SECONDS: "60", TRUST_PROXY: trust });
    return kind === "standalone" ? standaloneHost(service) : functionsHost(service);
  };

  describe("TRUST_PROXY=1 (KEDA interceptor; Azure Functions front end)", () => {
    let host: Host;
    beforeAll(async () => (host = await start("1")));
    afterAll(() => host.close());

    it("buckets by the last hop: spoofed prefixes do not mint new buckets", async () => {
      const real = "203.0.113.10:50123";
      expect(await predict(host, `1.1.1.1, ${real}`)).toBe(200);
      expect(await predict(host, `2.2.2.2, 3.3.3.3, ${real}`)).toBe(200);
      expect(await predict(host, `4.4.4.4, ${real}`)).toBe(429);
      // Another real client is not affected.
      expect(await predict(host, `1.1.1.1, 203.0.113.11:50123`)).toBe(200);
    });
  });

  describe("TRUST_PROXY=2 (ingress + interceptor; Front Door + Functions front end)", () => {
    let host: Host;
    beforeAll(async () => (host = await start("2")));
    afterAll(() => host.close());

    it("buckets by the second-to-last hop, not by the proxy in front of the app", async () => {
      const proxy = "10.244.1.9";
      expect(await predict(host, `9.9.9.9, 198.51.100.20, ${proxy}`)).toBe(200);
      expect(await predict(host, `8.8.8.8, 198.51.100.20, ${proxy}`)).toBe(200);
      expect(await predict(host, `7.7.7.7, 198.51.100.20, ${proxy}`)).toBe(429);
      // Two clients behind the same ingress pod get separate buckets (TRUST_PROXY=1 would merge them).
      expect(await predict(host, `198.51.100.21, ${proxy}`)).toBe(200);
      expect(await predict(host, `198.51.100.22, ${proxy}`)).toBe(200);
    });
  });
});

describe("TRUST_PROXY=0 on the standalone host", () => {
  it("ignores X-Forwarded-For entirely: every spoofed value is the same peer", async () => {
    const host = await standaloneHost(testService({ RATE_LIMIT_REQUESTS: "2", TRUST_PROXY: "0" }));
    try {
      expect(await predict(host, "198.51.100.1")).toBe(200);
      expect(await predict(host, "198.51.100.2")).toBe(200);
      expect(await predict(host, "198.51.100.3")).toBe(429);
    } finally {
      await host.close();
    }
  });
});
