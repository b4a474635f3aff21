/**
 * Property-based fuzzing of every endpoint on both hosts (the standalone server over real HTTP and the
 * Azure Functions handlers), with fast-check and a fixed seed.
 *
 * Invariant for every case: the status is 2xx or 4xx (or 503 with Retry-After), never another 5xx; the
 * body is JSON (HTML / JS / CSS / Prometheus text only where those are served); a problem+json body
 * carries the HTTP status; the service logs no "unhandled error"; and /health still answers 200 after
 * every property. The service runs with small limits (MAX_BATCH 100, MAX_BODY_BYTES 256 KiB) so the
 * 413 paths are exercised. The total number of cases is printed at the end.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FEATURES, SEED_HOUSE, type FeatureName } from "../shared/input/features";
import { createLogger } from "../shared/ops/logger";
import { HOSTS, testService, type Host, type Reply, type SendOptions } from "./support/hosts";

const SEED = 20_250_607;
/** Multiplies every property's number of runs (FUZZ_SCALE=10 for a long run). */
const SCALE = Number(process.env.FUZZ_SCALE ?? 2);
const MAX_BATCH = 100;
const MAX_BODY_BYTES = 262_144;
const JSON_HEADERS = { "content-type": "application/json" };

let cases = 0;
let requests = 0;
const perHost: Record<string, number> = {};
const statuses: Record<string, number> = {};

afterAll(() => {
  console.log(
    `fuzz: ${cases} generated cases, ${requests} requests (${Object.entries(perHost)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}); seed ${SEED}, scale ${SCALE}; statuses ${JSON.stringify(statuses)}`,
  );
});

/** GET routes and the statuses each may legitimately answer a GET with. */
const GET_ROUTES: Record<string, number[]> = {
  "/hello": [200, 422],
  "/health": [200],
  "/model": [200],
  "/openapi.json": [200],
  "/docs": [200],
  "/docs/init.js": [200],
  "/docs/swagger-ui.css": [200],
  "/metrics": [200],
  "/api/healthcheck": [200],
  "/api/convert-fahrenheit-to-celsius": [200, 400],
};
const POST_ROUTES = ["/predict", "/bulk_predict"];
const KNOWN: Record<string, string> = {
  ...Object.fromEntries(Object.keys(GET_ROUTES).map((r) => [r, "GET"])),
  "/predict": "POST",
  "/bulk_predict": "POST",
};
const DOC_ASSET_TYPES = /^(text\/javascript|text\/css|image\/png)/;

const positive = fc.oneof(
  { weight: 3, arbitrary: fc.double({ min: 0.01, max: 50, noNaN: true }) },
  { weight: 1, arbitrary: fc.double({ min: Number.MIN_VALUE, max: Number.MAX_VALUE, noNaN: true }) },
);
const validHouse: fc.Arbitrary<Record<FeatureName, number>> = fc.record({
  MedInc: positive,
  HouseAge: positive,
  AveRooms: positive,
  AveBedrms: positive,
  Population: positive,
  AveOccup: positive,
  Latitude: fc.double({ min: -90, max: 90, noNaN: true }),
  Longitude: fc.double({ min: -180, max: 180, noNaN: true }),
});

/** One house as raw JSON members, so that mutations can produce text JSON.stringify never would. */
type Member = [key: string, raw: string];
const seedMembers = (): Member[] => FEATURES.map((f) => [JSON.stringify(f), JSON.stringify(SEED_HOUSE[f])]);
const objectText = (ms: Member[]) => `{${ms.map(([k, v]) => `${k}:${v}`).join(",")}}`;

const field = fc.constantFrom(...FEATURES);
const badRaw = fc.oneof(
  // wrong types
  fc.constantFrom('"8.3"', "null", "true", "false", "[]", "{}", "[1]", '""', '"abc"', '{"value":1}'),
  // NaN-like, as strings and as (invalid) bare literals
  fc.constantFrom('"NaN"', '"Infinity"', '"-Infinity"', "NaN", "Infinity", "-Infinity", "undefined", '"1e999"'),
  // huge, tiny and odd number spellings, as raw text
  fc.constantFrom("1e308", "-1e308", "1e999", "-1e999", "1.7976931348623157e308", "5e-324", "1e-400", "-0", "0"),
  fc.constantFrom("0e0", "1E+2", "00", "01", ".5", "5.", "+1", "0x10", "1_000", "1e", "--1", "9".repeat(400)),
  fc.double().map((d) => (Number.isFinite(d) ? JSON.stringify(d) : String(d))),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? "null"),
);
const oddKey = fc.oneof(
  fc.string({ unit: "binary", maxLength: 24 }),
  fc.constantFrom(
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    "valueOf",
    "medinc",
    "MEDINC",
    "MedInc ",
    " MedInc",
    "\u202eMedInc",
    "Med\u0130nc",
    "𝕄edInc",
    "MedInc\u0000",
    "",
    "houses",
    "\ud800",
  ),
);

type Mutation =
  | { kind: "value"; field: FeatureName; raw: string }
  | { kind: "negate"; field: FeatureName }
  | { kind: "extra"; key: string; raw: string }
  | { kind: "duplicate"; field: FeatureName; raw: string; before: boolean }
  | { kind: "missing"; field: FeatureName }
  | { kind: "rename"; field: FeatureName; key: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("value" as const), field, raw: badRaw }),
  fc.record({ kind: fc.constant("negate" as const), field }),
  fc.record({ kind: fc.constant("extra" as const), key: oddKey, raw: badRaw }),
  fc.record({ kind: fc.constant("duplicate" as const), field, raw: badRaw, before: fc.boolean() }),
  fc.record({ kind: fc.constant("missing" as const), field }),
  fc.record({ kind: fc.constant("rename" as const), field, key: oddKey }),
);

/** The seed house with one mutation applied, as raw JSON text. */
function mutated(m: Mutation): string {
  const ms = seedMembers();
  const at = (f: FeatureName) => FEATURES.indexOf(f);
  switch (m.kind) {
    case "value":
      ms[at(m.field)]![1] = m.raw;
      break;
    case "negate":
      ms[at(m.field)]![1] = JSON.stringify(-SEED_HOUSE[m.field]);
      break;
    case "extra":
      ms.push([JSON.stringify(m.key), m.raw]);
      break;
    case "duplicate": {
      const dup: Member = [JSON.stringify(m.field), m.raw];
      if (m.before) ms.unshift(dup);
      else ms.push(dup);
      break;
    }
    case "missing":
      ms.splice(at(m.field), 1);
      break;
    case "rename":
      ms[at(m.field)]![0] = JSON.stringify(m.key);
      break;
  }
  return objectText(ms);
}

const validBody = fc.oneof(
  validHouse.map((h) => JSON.stringify(h)),
  fc.array(validHouse, { minLength: 1, maxLength: 5 }).map((houses) => JSON.stringify({ houses })),
);
const query = fc.oneof(
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.webQueryParameters(),
  fc.string({ unit: "grapheme-ascii", maxLength: 64 }).map((v) => `name=${v}`),
  fc
    .oneof(
      fc.double().map(String),
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.constantFrom("", " ", "NaN", "Infinity", "-Infinity", "1e999", "0x1F", " 12 ", "1e300", "-0", "98.6"),
    )
    .map((v) => new URLSearchParams({ fahrenheit: v, name: v }).toString()),
  // A long query, as its length only (so that a counterexample stays readable); built by longQuery().
  fc.integer({ min: 8_000, max: 24_000 }),
);
const queryText = (q: string | number) => (typeof q === "number" ? `name=${"q".repeat(q)}` : q);

const pathnameOf = (p: string) => new URL(`http://x${p}`).pathname;
const isDocsPath = (p: string) => /^\/docs(\/.*)?$/.test(p.replace(/\/$/, ""));
const isMetricsPath = (p: string) => p.replace(/\/$/, "") === "/metrics";

describe.each(["standalone", "functions"] as const)("fuzzing the %s host", (kind) => {
  let host: Host;
  const unhandled: string[] = [];

  beforeAll(async () => {
    const logger = createLogger("error", (line) => unhandled.push(line));
    const service = testService({ MAX_BATCH: String(MAX_BATCH), MAX_BODY_BYTES: String(MAX_BODY_BYTES) }, { logger });
    host = await HOSTS[kind](service);
    await host.service.holder.load();
  });
  afterAll(() => host.close());

  /** Sends one request and checks the invariants every response must meet; returns the reply and its JSON. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON, asserted on shape
  async function send(method: string, path: string, opts: SendOptions = {}): Promise<{ r: Reply; json: any }> {
    requests++;
    perHost[kind] = (perHost[kind] ?? 0) + 1;
    const r = await host.send(method, path, opts);
    const s = r.status;
    statuses[s] = (statuses[s] ?? 0) + 1;
    const where = `${kind}: ${method} ${path.slice(0, 120)} → ${s} ${r.text.slice(0, 300)}`;
    const allowed = (s >= 200 && s < 300) || (s >= 400 && s < 500) || (s === 503 && r.headers.has("retry-after"));
    expect(allowed, where).toBe(true);
    const type = r.headers.get("content-type") ?? "";
    const pathname = pathnameOf(path);
    if (method === "HEAD" && kind === "standalone") {
      expect(r.text, where).toBe("");
      return { r, json: undefined };
    }
    if (s === 200 && isMetricsPath(pathname)) {
      expect(type, where).toContain("text/plain");
      expect(r.text, where).toContain("# HELP http_requests_total");
      return { r, json: undefined };
    }
    if (s === 200 && isDocsPath(pathname)) {
      if (pathname.replace(/\/$/, "") === "/docs") {
        expect(type, where).toBe("text/html; charset=utf-8");
        expect(r.text, where).toContain('<div id="swagger-ui">');
      } else {
        expect(type, where).toMatch(DOC_ASSET_TYPES);
        expect(r.text.length, where).toBeGreaterThan(0);
      }
      return { r, json: undefined };
    }
    let json: unknown;
    expect(() => (json = JSON.parse(r.text)), where).not.toThrow();
    if (type === "application/problem+json") {
      expect(json, where).toMatchObject({
        type: expect.stringMatching(/^https:\/\/house-price\.dev\/problems\//),
        title: expect.any(String),
        status: s,
        detail: expect.any(String),
      });
    } else {
      expect(type, where).toMatch(/^application\/json/);
      if (s >= 400) expect(json, where).toMatchObject({ error: expect.any(String) });
    }
    return { r, json };
  }

  const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = JSON_HEADERS) =>
    send("POST", path, { body, headers });

  /** Runs an async property with the fixed seed, counting cases, then checks the server is still healthy. */
  async function property<T>(arb: fc.Arbitrary<T>, numRuns: number, check: (v: T) => Promise<void>) {
    await fc.assert(
      fc.asyncProperty(arb, async (v) => {
        cases++;
        await check(v);
      }),
      { seed: SEED, numRuns: Math.max(1, Math.round(numRuns * SCALE)), endOnFailure: true },
    );
    const health = await send("GET", "/health");
    expect(health.r.status).toBe(200);
    expect(unhandled).toEqual([]);
  }

  it("answers arbitrary JSON on /predict and /bulk_predict with 200, 413 or 422", async () => {
    await property(fc.tuple(fc.constantFrom(...POST_ROUTES), fc.json()), 300, async ([route, text]) => {
      const { r } = await post(route, text);
      expect([200, 413, 422]).toContain(r.status);
    });
    const houses = fc.array(fc.oneof(fc.jsonValue({ maxDepth: 2 }), validHouse), { maxLength: 130 });
    await property(houses, 150, async (hs) => {
      const { r, json } = await post("/bulk_predict", JSON.stringify({ houses: hs }));
      if (hs.length > MAX_BATCH) {
        expect(r.status).toBe(413);
        expect(json.errors[0].path).toBe("houses");
      } else expect([200, 422]).toContain(r.status);
    });
  });

  it("answers a near-valid house with 200 and a finite value, 400 or 422, on /predict and inside a bulk", async () => {
    await property(mutation, 500, async (m) => {
      const { r, json } = await post("/predict", mutated(m));
      expect([200, 400, 422]).toContain(r.status);
      if (r.status === 200) expect(Number.isFinite(json.house_value)).toBe(true);
      if (r.status === 422) expect(json.errors.length).toBeGreaterThan(0);
    });
    const bulk = fc.record({ m: mutation, size: fc.integer({ min: 1, max: 6 }), at: fc.nat() });
    await property(bulk, 250, async ({ m, size, at }) => {
      const i = at % size;
      const rows = Array.from({ length: size }, (_, j) => (j === i ? mutated(m) : JSON.stringify(SEED_HOUSE)));
      const { r, json } = await post("/bulk_predict", `{"houses":[${rows.join(",")}]}`);
      expect([200, 400, 422]).toContain(r.status);
      if (r.status === 200) expect(json.house_values).toHaveLength(size);
      if (r.status === 422) expect(json.errors[0].path.startsWith(`houses[${i}]`)).toBe(true);
    });
  });

  it("predicts valid houses with finite values, and /bulk_predict equals /predict in order", async () => {
    await property(validHouse, 200, async (h) => {
      const { r, json } = await post("/predict", JSON.stringify(h));
      expect(r.status).toBe(200);
      expect(Number.isFinite(json.house_value)).toBe(true);
    });
    await property(fc.array(validHouse, { minLength: 1, maxLength: 12 }), 40, async (hs) => {
      const singles: number[] = [];
      for (const h of hs) singles.push((await post("/predict", JSON.stringify(h))).json.house_value);
      const { r, json } = await post("/bulk_predict", JSON.stringify({ houses: hs }));
      expect(r.status).toBe(200);
      expect(json.house_values).toEqual(singles);
    });
    await property(fc.array(validHouse, { minLength: 1, maxLength: MAX_BATCH }), 40, async (hs) => {
      const forward = await post("/bulk_predict", JSON.stringify({ houses: hs }));
      const backward = await post("/bulk_predict", JSON.stringify({ houses: [...hs].reverse() }));
      expect([forward.r.status, backward.r.status]).toEqual([200, 200]);
      expect(forward.json.house_values.every(Number.isFinite)).toBe(true);
      expect([...backward.json.house_values].reverse()).toEqual(forward.json.house_values);
    });
  });

  it("refuses huge strings (≥ 1 MB) with 413 and reports a 200 KB string as a 422 with a bounded echo", async () => {
    const shape = fc.constantFrom("field", "key", "bulk-row", "bare", "string");
    const huge = fc.record({
      size: fc.integer({ min: 1 << 20, max: 3 << 20 }),
      shape,
      ch: fc.constantFrom("x", "é", "😀"),
    });
    const build = (shape: string, s: string) => {
      const q = JSON.stringify(s);
      switch (shape) {
        case "field":
          return JSON.stringify(SEED_HOUSE).replace("8.3252", q);
        case "key":
          return `{${q}:1}`;
        case "bulk-row":
          return `{"houses":[${JSON.stringify(SEED_HOUSE).replace("}", `,"note":${q}}`)}]}`;
        case "bare":
          return s;
        default:
          return q;
      }
    };
    await property(huge, 8, async ({ size, shape, ch }) => {
      const body = build(shape, ch.repeat(Math.ceil(size / Buffer.byteLength(ch))));
      expect(Buffer.byteLength(body)).toBeGreaterThanOrEqual(1 << 20);
      const { r } = await post(shape === "bulk-row" ? "/bulk_predict" : "/predict", body);
      expect(r.status).toBe(413);
    });
    await property(fc.integer({ min: 100_000, max: 250_000 }), 12, async (n) => {
      const { r, json } = await post("/predict", JSON.stringify({ ...SEED_HOUSE, MedInc: "7".repeat(n) }));
      expect(r.status).toBe(422);
      expect(json.errors[0].received).toBe(`${"7".repeat(100)}… (${n} chars)`);
      expect(r.text.length).toBeLessThan(2_000);
    });
  });

  it("answers deep nesting (up to 10^5 levels) with 400, 413 or 422", async () => {
    const deep = fc.record({
      depth: fc.integer({ min: 1_000, max: 100_000 }),
      open: fc.constantFrom("[", '{"a":', '{"houses":'),
      closed: fc.boolean(),
      wrap: fc.constantFrom("none", "houses", "field"),
      route: fc.constantFrom(...POST_ROUTES),
    });
    await property(deep, 16, async ({ depth, open, closed, wrap, route }) => {
      const close = open === "[" ? "]" : "}";
      let inner = open.repeat(depth) + (open === "[" ? "" : "1") + (closed ? close.repeat(depth) : "");
      if (wrap === "houses") inner = `{"houses":${inner}}`;
      if (wrap === "field") inner = JSON.stringify(SEED_HOUSE).replace("8.3252", inner);
      const { r } = await post(route, inner);
      expect([400, 413, 422]).toContain(r.status);
      if (Buffer.byteLength(inner) > MAX_BODY_BYTES) expect(r.status).toBe(413);
      else if (!closed) expect(r.status).toBe(400);
    });
  });

  it("answers a valid body cut at any position with 400", async () => {
    const cut = fc.tuple(fc.constantFrom(...POST_ROUTES), validBody, fc.double({ min: 0, max: 1, maxExcluded: true }));
    await property(cut, 300, async ([route, body, at]) => {
      const { r, json } = await post(route, body.slice(0, Math.floor(body.length * at)));
      expect(r.status).toBe(400);
      expect(json.detail).toMatch(/not valid JSON|empty/);
    });
  });

  it("answers a wrong content type with 415 and a JSON one with 200", async () => {
    const notJson = fc.constantFrom(
      "text/plain",
      "text/json",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/xml",
      "application/jsonx",
      "application/json-seq",
      "json",
      "*/*",
      "application/octet-stream",
      // JSON is UTF-8 only (RFC 8259): another declared charset is refused.
      "application/json;charset=latin1",
      "application/json; charset=utf-16",
    );
    const json = fc.constantFrom(
      "application/json",
      "APPLICATION/JSON; charset=utf-8",
      'application/json; charset="UTF-8"',
      "application/problem+json",
      "application/vnd.api+json",
      " application/json ",
    );
    const anyType = fc.string({ unit: "grapheme-ascii", maxLength: 60 });
    const ct = fc.oneof(
      notJson.map((t) => ({ t, expect: 415 })),
      json.map((t) => ({ t, expect: 200 })),
      anyType.map((t) => ({ t, expect: 0 })),
    );
    await property(fc.tuple(ct, fc.constantFrom(...POST_ROUTES)), 250, async ([{ t, expect: want }, route]) => {
      const body = route === "/predict" ? JSON.stringify(SEED_HOUSE) : JSON.stringify({ houses: [SEED_HOUSE] });
      const { r } = await post(route, body, { "content-type": t });
      if (want) expect(r.status).toBe(want);
      else expect([200, 415]).toContain(r.status);
    });
  });

  it("answers random bytes and invalid UTF-8 with 400 (or 422 when they happen to be valid JSON)", async () => {
    await property(
      fc.tuple(fc.constantFrom(...POST_ROUTES), fc.uint8Array({ maxLength: 4096 })),
      250,
      async ([route, bytes]) => {
        const { r } = await post(route, bytes);
        expect([400, 422]).toContain(r.status);
      },
    );
    const strict = new TextDecoder("utf-8", { fatal: true });
    const inString = fc.uint8Array({ minLength: 1, maxLength: 64 }).filter((b) => {
      try {
        strict.decode(b);
        return false;
      } catch {
        return true;
      }
    });
    await property(inString, 250, async (bytes) => {
      const body = Buffer.concat([
        Buffer.from(JSON.stringify(SEED_HOUSE).slice(0, -1) + ',"x":"'),
        bytes,
        Buffer.from('"}'),
      ]);
      const { r, json } = await post("/predict", body);
      expect(r.status).toBe(400);
      expect(json.detail).toContain("UTF-8");
    });
  });

  it("answers random query strings on every endpoint within each route's statuses", async () => {
    const route = fc.constantFrom(...Object.keys(GET_ROUTES), ...POST_ROUTES);
    await property(fc.tuple(route, query), 600, async ([path, q]) => {
      const url = `${path}?${queryText(q)}`;
      const body = JSON.stringify(path === "/predict" ? SEED_HOUSE : { houses: [SEED_HOUSE] });
      const { r, json } = POST_ROUTES.includes(path) ? await post(url, body) : await send("GET", url);
      // Only the standalone server has a header-size limit (16 KiB including the request line).
      if (r.status === 431) {
        expect(kind).toBe("standalone");
        expect(url.length).toBeGreaterThan(8_000);
        return;
      }
      expect(GET_ROUTES[path] ?? [200]).toContain(r.status);
      if (path === "/api/convert-fahrenheit-to-celsius" && r.status === 200) {
        expect(Object.keys(json).sort()).toEqual(["app_identifier", "celsius"]);
        expect(json.app_identifier).toBe(host.service.instanceId);
        // Above ~3.6e297 °F the service answers celsius: null (a known defect, see the regressions below).
        const f = Number(new URL(`http://x${url}`).searchParams.get("fahrenheit")?.trim());
        if (Math.abs(f) <= 1e290) expect(json.celsius).toBeCloseTo(((f - 32) * 5) / 9, 6);
      }
    });
  });

  it("answers every method on known and unknown routes with the route's status, 404 or 405", async () => {
    const method = fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS");
    const segment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/);
    const path = fc.oneof(
      fc.constantFrom(...Object.keys(KNOWN)),
      fc.constantFrom(...Object.keys(KNOWN)).map((p) => `${p}/`),
      fc.webPath(),
      segment.map((s) => `/docs/${s}`),
      segment.map((s) => `/api/${s}`),
      fc.array(segment, { minLength: 1, maxLength: 4 }).map((ss) => `/${ss.join("/")}`),
    );
    await property(fc.tuple(method, path), 400, async ([m, p]) => {
      const pathname = pathnameOf(p);
      const route = pathname.length > 1 ? pathname.replace(/\/$/, "") : pathname;
      const opts: SendOptions = m === "GET" || m === "HEAD" ? {} : { body: "{}", headers: JSON_HEADERS };
      const { r } = await send(m, p, opts);
      // Routes are case-insensitive (as Azure Functions routes are).
      const lower = route.toLowerCase();
      const owner = KNOWN[lower] ?? (lower.startsWith("/docs/") ? "GET" : undefined);
      if (!owner) expect(r.status).toBe(404);
      else if (m === owner || (m === "HEAD" && owner === "GET")) expect(r.status).not.toBe(405);
      else {
        expect(r.status).toBe(405);
        expect(r.headers.get("allow")).toBe(owner);
      }
    });
  });
});

// Defects the fuzzing found, kept as regression tests (RELIABILITY.md, "Defects found" 1 and 2).
describe.each(["standalone", "functions"] as const)("regressions found by fuzzing on the %s host", (kind) => {
  let host: Host;
  beforeAll(async () => {
    host = await HOSTS[kind](testService({}));
  });
  afterAll(() => host.close());

  it("answers GET /docs/<an Object.prototype member> with the 404 JSON, not 500", async () => {
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
      const r = await host.send("GET", `/docs/${name}`);
      expect(r.status, name).toBe(404);
      expect(r.json()).toEqual({ error: "API not found.", app_identifier: host.service.instanceId });
    }
  });

  it("converts a huge fahrenheit (|f| > 3.6e297) to a finite number or refuses it with 400, never celsius: null", async () => {
    for (const f of ["1e300", "-1e300", "1.7e308"]) {
      const r = await host.send("GET", `/api/convert-fahrenheit-to-celsius?fahrenheit=${f}`);
      if (r.status === 200) expect(r.json().celsius, f).toEqual(expect.any(Number));
      else expect(r.status, f).toBe(400);
    }
  });
});
