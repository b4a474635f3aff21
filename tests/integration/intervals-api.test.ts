import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FEATURES, SEED_HOUSE } from "../../shared/input/features";
import { BulkDetailResponseSchema, PredictDetailResponseSchema } from "../../shared/input/schemas";
import { HOSTS, testService, type Host } from "../support/hosts";

const JSON_HEADERS = { "content-type": "application/json" };
const card = JSON.parse(readFileSync("model/model.json", "utf8")) as {
  version: string;
  intervals: { levels: number[]; data: { calibration_rows: number }; holdout: { levels: { coverage: number }[] } };
};
const holdout = JSON.parse(readFileSync("model/reference/holdout.json", "utf8")) as { X: number[][]; y: number[] };
const reference = JSON.parse(readFileSync("model/reference/intervals.json", "utf8")) as {
  rows: number;
  low: number[][];
  high: number[][];
};
const houseOf = (row: number[]) => Object.fromEntries(FEATURES.map((f, c) => [f, row[c]!]));
const RICH = { ...SEED_HOUSE, MedInc: 800 };
const FAR = { ...SEED_HOUSE, Population: 100_000, Latitude: 10 };

/** A Prometheus counter's value from the exposition text (0 when absent). */
function sample(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

describe.each(["standalone", "functions"] as const)("prediction detail on the %s host", (kind) => {
  let host: Host;
  const post = (path: string, body: unknown) =>
    host.send("POST", path, { body: JSON.stringify(body), headers: JSON_HEADERS });
  const metrics = async () => (await host.send("GET", "/metrics")).text;

  beforeAll(async () => {
    host = await HOSTS[kind](testService({ MAX_BATCH: "5000", MAX_BODY_BYTES: String(4 * 1024 * 1024) }));
    await host.service.holder.load();
  });
  afterAll(() => host.close());

  it("answers plain requests byte for byte as before, without loading the interval model", async () => {
    const plain = await post("/predict", SEED_HOUSE);
    const value = plain.json().house_value as number;
    expect(plain.text).toBe(JSON.stringify({ house_value: value }));
    for (const q of ["?detail=false", "?code=abc", "?level=0.9"])
      expect((await post(`/predict${q}`, SEED_HOUSE)).text).toBe(plain.text);
    const bulk = await post("/bulk_predict", { houses: [SEED_HOUSE, RICH] });
    expect(bulk.text).toBe(JSON.stringify({ house_values: bulk.json().house_values }));
    expect((await post("/bulk_predict?detail=false", { houses: [SEED_HOUSE, RICH] })).text).toBe(bulk.text);
    expect(await metrics()).not.toMatch(/^interval_rows_total\{/m);
  });

  it("gives /predict?detail=true the point, its interval at 0.9, the features out of range and the model version", async () => {
    const plain = (await post("/predict", RICH)).json().house_value as number;
    const r = await post("/predict?detail=true", RICH);
    expect(r.status).toBe(200);
    const body = r.json();
    expect(Object.keys(body)).toEqual(["house_value", "interval", "out_of_range", "model_version"]);
    expect(body.house_value).toBe(plain);
    expect(Object.keys(body.interval)).toEqual(["level", "low", "high"]);
    expect(body.interval.level).toBe(0.9);
    expect(body.interval.low).toBeLessThanOrEqual(plain);
    expect(body.interval.high).toBeGreaterThanOrEqual(plain);
    expect(body.out_of_range).toEqual(["MedInc"]);
    expect(body.model_version).toBe(card.version);
    const seed = (await post("/predict?detail=true&level=0.95", SEED_HOUSE)).json();
    expect(seed.out_of_range).toEqual([]);
    expect(seed.interval.level).toBe(0.95);
    expect(PredictDetailResponseSchema.safeParse(body).success).toBe(true);
  });

  it("answers the README's detail example exactly as the README shows it", async () => {
    const readme = readFileSync("README.md", "utf8");
    const section = readme.slice(readme.indexOf("### How sure is the model"));
    const shown = JSON.parse(/```json\n([\s\S]*?)```/.exec(section)![1]!);
    expect((await post("/predict?detail=true", SEED_HOUSE)).json()).toEqual(shown);
  });

  it("gives /bulk_predict?detail=true one detail per house in input order", async () => {
    const houses = [SEED_HOUSE, RICH, FAR];
    const plain = (await post("/bulk_predict", { houses })).json().house_values as number[];
    const r = await post("/bulk_predict?detail=true&level=0.8", { houses });
    expect(r.status).toBe(200);
    const body = r.json();
    expect(Object.keys(body)).toEqual(["house_values", "details", "model_version"]);
    expect(body.house_values).toEqual(plain);
    expect(body.details.map((d: { out_of_range: string[] }) => d.out_of_range)).toEqual([
      [],
      ["MedInc"],
      ["Population", "Latitude"],
    ]);
    expect(BulkDetailResponseSchema.safeParse(body).success).toBe(true);
    body.details.forEach((d: { interval: { level: number; low: number; high: number } }, i: number) => {
      expect(Object.keys(d)).toEqual(["interval", "out_of_range"]);
      expect(d.interval.level).toBe(0.8);
      expect(d.interval.low).toBeLessThanOrEqual(plain[i]!);
      expect(d.interval.high).toBeGreaterThanOrEqual(plain[i]!);
    });
  });

  it("documents detail and level and both answer shapes in /openapi.json, for GET /predict too", async () => {
    const doc = (await host.send("GET", "/openapi.json")).json();
    for (const path of ["/predict", "/bulk_predict"]) {
      const names = doc.paths[path].post.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`);
      expect(names).toEqual(["query:detail", "query:level"]);
    }
    const refs = (path: string) =>
      doc.paths[path].post.responses["200"].content["application/json"].schema.anyOf.map(
        (s: { $ref: string }) => s.$ref,
      );
    expect(refs("/predict")).toContain("#/components/schemas/PredictDetailResponse");
    expect(refs("/bulk_predict")).toContain("#/components/schemas/BulkDetailResponse");
    // GET /predict serves detail too (the /app page asks it), so its document says so: the typed client follows.
    const get = doc.paths["/predict"].get;
    const query = get.parameters.filter((p: { in: string }) => p.in === "query");
    expect(query.map((p: { name: string }) => p.name)).toEqual([...FEATURES, "detail", "level"]);
    expect(query.at(-1).description).toMatch(/model card's `intervals.levels`/);
    expect(get.responses["200"].content["application/json"].schema.anyOf.map((s: { $ref: string }) => s.$ref)).toEqual([
      "#/components/schemas/PredictResponse",
      "#/components/schemas/PredictDetailResponse",
    ]);
  });

  it("answers 422 naming level or detail for a bad option", async () => {
    const cases: [string, string][] = [
      ["?detail=true&level=0.5", "level"],
      ["?detail=true&level=0.85", "level"],
      ["?detail=true&level=abc", "level"],
      ["?detail=true&level=1", "level"],
      ["?level=0.99", "level"],
      ["?detail=yes", "detail"],
      ["?detail=", "detail"],
      ["?detail=true&detail=true", "detail"],
    ];
    for (const [q, field] of cases) {
      for (const path of ["/predict", "/bulk_predict"]) {
        const r = await host.send("POST", `${path}${q}`, { body: "{not json", headers: JSON_HEADERS });
        // A bad level for the card is only known with the model: those requests carry a valid body.
        const valid =
          r.status === 400 ? await post(`${path}${q}`, path === "/predict" ? SEED_HOUSE : { houses: [SEED_HOUSE] }) : r;
        expect(valid.status, `${path}${q}`).toBe(422);
        expect(valid.headers.get("content-type")).toBe("application/problem+json");
        expect(valid.json().errors[0].path, `${path}${q}`).toBe(field);
      }
    }
  });

  it("serves a repeated detail request from the cache, each level under its own keys", async () => {
    const house = { ...SEED_HOUSE, MedInc: 5.4321 };
    const before = await metrics();
    const first = (await post("/predict?detail=true", house)).json();
    const again = (await post("/predict?detail=true", house)).json();
    const wider = (await post("/predict?detail=true&level=0.95", house)).json();
    const after = await metrics();
    expect(again).toEqual(first);
    expect(wider.interval.high - wider.interval.low).toBeGreaterThan(first.interval.high - first.interval.low);
    const delta = (source: string) =>
      sample(after, "interval_rows_total", `{source="${source}"}`) -
      sample(before, "interval_rows_total", `{source="${source}"}`);
    expect(delta("model")).toBe(2); // 0.9 once, 0.95 once
    expect(delta("cache")).toBe(1);
    // The point itself still comes from the point cache: the intervals never displaced it.
    expect((await post("/predict", house)).headers.get("cache-status")).toBe("house-price; hit");
  });

  it("counts rows out of range on every prediction, zero-initialised for all eight features", async () => {
    const fresh = await HOSTS[kind](testService());
    try {
      const initial = await (await fresh.send("GET", "/metrics")).text;
      for (const f of FEATURES) expect(initial).toContain(`input_out_of_range_total{feature="${f}"} 0`);
      expect(initial).toMatch(/^input_rows_out_of_range_total 0$/m);
      const send = (path: string, body: unknown) =>
        fresh.send("POST", path, { body: JSON.stringify(body), headers: JSON_HEADERS });
      await send("/predict", RICH);
      await send("/predict", SEED_HOUSE);
      await send("/bulk_predict?detail=true", { houses: [FAR, SEED_HOUSE, RICH] });
      const text = await (await fresh.send("GET", "/metrics")).text;
      expect(sample(text, "input_rows_out_of_range_total")).toBe(3);
      expect(sample(text, "input_out_of_range_total", '{feature="MedInc"}')).toBe(2);
      expect(sample(text, "input_out_of_range_total", '{feature="Population"}')).toBe(1);
      expect(sample(text, "input_out_of_range_total", '{feature="Latitude"}')).toBe(1);
      expect(sample(text, "input_out_of_range_total", '{feature="HouseAge"}')).toBe(0);
    } finally {
      await fresh.close();
    }
  });

  it("reproduces the reference intervals and covers the whole hold-out as the card says", async () => {
    const houses = holdout.X.map(houseOf);
    for (const [k, level] of card.intervals.levels.entries()) {
      const r = await post(`/bulk_predict?detail=true&level=${level}`, { houses });
      expect(r.status).toBe(200);
      const { house_values: values, details } = r.json() as {
        house_values: number[];
        details: { interval: { low: number; high: number } }[];
      };
      let inside = 0;
      let worst = 0;
      details.forEach(({ interval }, i) => {
        expect(interval.low <= values[i]! && values[i]! <= interval.high).toBe(true);
        if (holdout.y[i]! >= interval.low && holdout.y[i]! <= interval.high) inside++;
        if (i < reference.rows) {
          worst = Math.max(
            worst,
            Math.abs(interval.low - reference.low[i]![k]!),
            Math.abs(interval.high - reference.high[i]![k]!),
          );
        }
      });
      expect(worst).toBeLessThan(1e-4);
      const n = houses.length;
      const coverage = inside / n;
      expect(Math.abs(coverage - card.intervals.holdout.levels[k]!.coverage)).toBeLessThanOrEqual(2 / n + 1e-4);
      const band = 2.58 * Math.sqrt(level * (1 - level) * (1 / n + 1 / card.intervals.data.calibration_rows));
      expect(Math.abs(coverage - level), `level ${level}: coverage ${coverage}`).toBeLessThanOrEqual(band);
    }
  });
});
