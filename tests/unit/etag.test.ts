import { describe, expect, it } from "vitest";
import { notModified, predictionCacheHeaders, PUBLIC_PREDICTION } from "../../shared/http/edge-cache";
import { ifNoneMatchMatches, predictionETag } from "../../shared/http/etag";

const SHA = "a".repeat(64);
const row = (...v: number[]) => Float32Array.from(v);

describe("prediction ETag", () => {
  it("is a strong, quoted tag that is the same for the same model, row bits and options", () => {
    const tag = predictionETag(SHA, row(8.3252, 41), "detail=false&level=");
    expect(tag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(predictionETag(SHA, row(8.3252, 41), "detail=false&level=")).toBe(tag);
    // Same float32 bits from another decimal spelling: same tag.
    expect(predictionETag(SHA, row(8.32520000001, 41), "detail=false&level=")).toBe(tag);
  });

  it("changes with the model, with any bit of the row and with the options", () => {
    const tag = predictionETag(SHA, row(8.3252, 41), "o");
    expect(predictionETag("b".repeat(64), row(8.3252, 41), "o")).not.toBe(tag);
    const bumped = row(8.3252, 41);
    new Uint32Array(bumped.buffer)[0]! ^= 1; // the lowest mantissa bit
    expect(predictionETag(SHA, bumped, "o")).not.toBe(tag);
    expect(predictionETag(SHA, row(8.3252, 41), "p")).not.toBe(tag);
    expect(predictionETag(SHA, row(-0, 41), "o")).not.toBe(predictionETag(SHA, row(0, 41), "o"));
  });

  it("hashes only the row's own bytes when it is a view into a bigger tensor", () => {
    const big = row(1, 2, 3, 4);
    expect(predictionETag(SHA, big.subarray(2), "o")).toBe(predictionETag(SHA, row(3, 4), "o"));
  });
});

describe("If-None-Match", () => {
  const tag = '"abc"';
  it.each([
    ['"abc"', true],
    ['W/"abc"', true],
    ['"x", "abc"', true],
    ["*", true],
    ['"abcd"', false],
    ["abc", false],
    ["", false],
  ])("%j matches: %s", (header, expected) => {
    expect(ifNoneMatchMatches(header, tag)).toBe(expected);
  });
  it("is false without the header", () => expect(ifNoneMatchMatches(undefined, tag)).toBe(false));
});

describe("prediction cache headers", () => {
  it("are public with a short browser and a long edge lifetime, private and unstored with keys", () => {
    expect(predictionCacheHeaders('"t"', false)).toEqual({
      etag: '"t"',
      "cache-control": "public, max-age=60, s-maxage=86400",
    });
    expect(predictionCacheHeaders('"t"', true)).toEqual({ etag: '"t"', "cache-control": "private, no-store" });
  });

  it("304 carries the validator and the caching policy and no body", () => {
    expect(notModified(predictionCacheHeaders('"t"', false))).toEqual({
      status: 304,
      headers: { etag: '"t"', "cache-control": PUBLIC_PREDICTION },
      body: "",
    });
  });
});
