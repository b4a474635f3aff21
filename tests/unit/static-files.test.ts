import { describe, expect, it } from "vitest";
import { chooseCoding } from "../../shared/http/static-files";
import { retryAfterSeconds } from "../../web/api/retry-after";

describe("choosing a precompressed copy from Accept-Encoding", () => {
  const all = () => true;
  it("prefers br, then gzip, and honours q=0 and *", () => {
    expect(chooseCoding("gzip, deflate, br, zstd", all)).toBe("br");
    expect(chooseCoding("gzip", all)).toBe("gzip");
    expect(chooseCoding("br;q=0, gzip;q=0.5", all)).toBe("gzip");
    expect(chooseCoding("*", all)).toBe("br");
    expect(chooseCoding("*;q=0, identity", all)).toBe("identity");
    expect(chooseCoding("BR", all)).toBe("br");
    expect(chooseCoding(undefined, all)).toBe("identity");
    expect(chooseCoding("", all)).toBe("identity");
  });

  it("never picks a copy the file does not have", () => {
    expect(chooseCoding("br, gzip", (c) => c !== "br")).toBe("gzip");
    expect(chooseCoding("br", (c) => c === "identity")).toBe("identity");
  });
});

describe("the page's reading of Retry-After", () => {
  it("takes seconds or an HTTP date, and 1 s when it cannot tell", () => {
    expect(retryAfterSeconds("7")).toBe(7);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterSeconds("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30);
    expect(retryAfterSeconds("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0);
    expect(retryAfterSeconds(null)).toBe(1);
    expect(retryAfterSeconds("soon")).toBe(1);
  });
});
