/**
 * "One house": one input per feature (named as the API names it), labelled with the unit and training range
 * from the model card, defaults a typical hold-out house; submitting calls GET /predict?…&detail=true (cacheable
 * at the edge) and shows the value, its prediction interval at the level chosen (the card's levels), a warning
 * naming the features outside the training range, whether a cache served it and how long it took. A 422's field
 * errors appear beside the fields, tied to them with aria-invalid and aria-describedby.
 */
import { FEATURES, type FeatureName } from "../shared/input/features";
import typical from "./data/typical-house.json";
import {
  client,
  describeFailure,
  send,
  type FeatureInfo,
  type House,
  type ModelCard,
  type PredictDetail,
  type Problem,
} from "./api/client";
import { parseNumber } from "./csv";
import { byId, make } from "./dom";

const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });

/** "$452,600" from a value in units of $100,000. */
export const formatValue = (houseValue: number) => dollars.format(houseValue * 100_000);

/**
 * An interval in dollars, rounded outwards to $1,000 (its bounds are estimates; rounding inwards would claim a
 * narrower range than the model gives): 3.508 and 4.794 give "$350,000 – $480,000".
 */
export function formatRange(low: number, high: number): string {
  const thousands = (v: number, round: (x: number) => number) => round(Math.round(v * 100_000) / 1000) * 1000;
  return `${dollars.format(thousands(low, Math.floor))} – ${dollars.format(thousands(high, Math.ceil))}`;
}

/** "90 %" for a level of 0.9. */
export const formatLevel = (level: number) => `${Number((level * 100).toFixed(1))} %`;

const input = (f: FeatureName) => byId<HTMLInputElement>(f);

/** The served model's card once GET /model has answered (undefined if it could not be loaded). */
let card: Promise<ModelCard | undefined> = Promise.resolve(undefined);

/** Builds the eight fields into the form (labels get units and ranges later, from the card). */
export function renderFields(): void {
  const fields = byId("fields");
  for (const f of FEATURES) {
    const box = make("div", { className: "field" });
    const label = make("label", { htmlFor: f, textContent: f });
    const hint = make("span", { id: `${f}-hint`, className: "hint", textContent: "" });
    const field = make("input", { id: f, name: f, type: "text", value: String(typical[f]), autocomplete: "off" });
    field.inputMode = "decimal";
    field.setAttribute("aria-describedby", `${f}-hint`);
    const error = make("p", { id: `${f}-error`, className: "field-error", hidden: true });
    label.append(hint);
    box.append(label, field, error);
    fields.append(box);
  }
}

const nf = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });
const trainedOn = (info: FeatureInfo) => `trained on ${nf.format(info.min)} to ${nf.format(info.max)}`;

/** Adds each feature's description, unit and training range (from GET /model) to its label. */
export function describeFields(features: FeatureInfo[]): void {
  for (const info of features) {
    const hint = document.getElementById(`${info.name}-hint`);
    if (!hint) continue;
    hint.textContent = `${info.description}, in ${info.unit}; ${trainedOn(info)}`;
  }
}

/** Offers the card's interval levels (its default chosen); a model without intervals gets plain predictions. */
export function offerLevels(intervals: ModelCard["intervals"]): void {
  const select = byId<HTMLSelectElement>("level");
  select.replaceChildren(
    ...(intervals?.levels ?? []).map(
      (l) => new Option(formatLevel(l), String(l), l === intervals?.defaultLevel, l === intervals?.defaultLevel),
    ),
  );
  byId("level-field").hidden = intervals === undefined;
}

function showFieldError(f: string, message: string | undefined): void {
  const field = document.getElementById(f) as HTMLInputElement | null;
  const error = document.getElementById(`${f}-error`);
  if (!field || !error) return;
  error.textContent = message ?? "";
  error.hidden = message === undefined;
  field.setAttribute("aria-invalid", String(message !== undefined));
  field.setAttribute("aria-describedby", message === undefined ? `${f}-hint` : `${f}-hint ${f}-error`);
}

/** The form's values as a house, or undefined after marking the fields that are not numbers. */
function readHouse(): House | undefined {
  const house = {} as House;
  let good = true;
  for (const f of FEATURES) {
    const n = parseNumber(input(f).value);
    showFieldError(f, n.ok ? undefined : n.message);
    if (n.ok) house[f] = n.value;
    else good = false;
  }
  return good ? house : undefined;
}

function focusFirstInvalid(): void {
  document.querySelector<HTMLInputElement>('#house-form [aria-invalid="true"]')?.focus();
}

/**
 * Where the answer came from: this browser's HTTP cache (GET /predict answers may be kept a minute; the
 * resource timing then shows no bytes transferred), else the service's RFC 9211 Cache-Status header.
 */
function cacheNote(response: Response): string {
  const timing = performance.getEntriesByName(response.url).at(-1) as PerformanceResourceTiming | undefined;
  if (timing && timing.transferSize === 0 && timing.decodedBodySize > 0) return "from this browser's cache";
  const cacheStatus = response.headers.get("cache-status");
  if (cacheStatus === null) return "cache status unknown";
  return /;\s*hit\b/.test(cacheStatus) ? "served from the prediction cache" : "computed by the model";
}

/** Shows a 422's field errors beside their fields; anything not about a field goes to the form's status. */
function showProblem(problem: Problem | undefined, response: Response, status: HTMLElement): void {
  const unplaced: string[] = [];
  for (const e of problem?.errors ?? []) {
    if ((FEATURES as readonly string[]).includes(e.path)) showFieldError(e.path, e.message);
    else unplaced.push(`${e.path}: ${e.message}`);
  }
  status.textContent = unplaced.length > 0 ? unplaced.join("; ") : describeFailure(problem, response);
  focusFirstInvalid();
}

/** The query of GET /predict: the house, plus detail=true at the chosen level when the card offers intervals. */
async function predictQuery(house: House) {
  const intervals = (await card)?.intervals;
  if (!intervals) return house;
  const level = Number(byId<HTMLSelectElement>("level").value);
  return {
    ...house,
    detail: "true" as const,
    level: intervals.levels.includes(level) ? level : intervals.defaultLevel,
  };
}

async function predictOne(status: HTMLElement): Promise<void> {
  const house = readHouse();
  if (!house) {
    status.textContent = "Fix the marked fields.";
    focusFirstInvalid();
    return;
  }
  status.textContent = "Predicting…";
  const query = await predictQuery(house);
  const started = performance.now();
  const { data, error, response } = await send(
    () => client.GET("/predict", { params: { query } }),
    (m) => (status.textContent = m),
  );
  const ms = Math.round(performance.now() - started);
  if (!data) {
    showProblem(error as Problem | undefined, response, status);
    return;
  }
  const result = byId("house-value");
  result.dataset.value = String(data.house_value);
  result.textContent = formatValue(data.house_value);
  const detail = "interval" in data ? data : undefined;
  showInterval(detail?.interval);
  showOutOfRange(detail?.out_of_range ?? [], house, (await card)?.features ?? []);
  byId("house-meta").textContent = `${cacheNote(response)} · ${ms} ms`;
  status.textContent = "";
}

/** "90 % range: $350,000 – $480,000", with the raw bounds and level (units of $100,000) as data attributes. */
function showInterval(interval: PredictDetail["interval"] | undefined): void {
  const el = byId("house-interval");
  el.hidden = interval === undefined;
  if (!interval) return;
  el.dataset.level = String(interval.level);
  el.dataset.low = String(interval.low);
  el.dataset.high = String(interval.high);
  el.textContent = `${formatLevel(interval.level)} range: ${formatRange(interval.low, interval.high)}`;
}

/** Names the features outside the training range, with the value given and the range the model saw. */
function showOutOfRange(names: readonly FeatureName[], house: House, features: FeatureInfo[]): void {
  const el = byId("house-warning");
  el.hidden = names.length === 0;
  el.dataset.features = names.join(" ");
  if (names.length === 0) return;
  const listed = names.map((name) => {
    const info = features.find((f) => f.name === name);
    return info ? `${name} ${String(house[name])} (${trainedOn(info)})` : name;
  });
  el.textContent =
    `Outside the training range: ${listed.join("; ")}. The model never saw such a house: ` +
    "treat the value and its range as a guess.";
}

/** Wires the form; `modelCard` is the card's GET /model, which a prediction waits for to know its levels. */
export function wireForm(modelCard: Promise<ModelCard | undefined>): void {
  card = modelCard.catch(() => undefined);
  const form = byId<HTMLFormElement>("house-form");
  const status = byId("house-status");
  let busy = false; // one prediction at a time: a second Enter while one is in flight is ignored
  let levelChanged = false; // a level chosen while one is in flight is asked for once it is done
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    form.setAttribute("aria-busy", "true");
    void predictOne(status)
      .catch((err: unknown) => {
        status.textContent = `The request failed: ${err instanceof Error ? err.message : String(err)}`;
      })
      .finally(() => {
        busy = false;
        form.removeAttribute("aria-busy");
        if (levelChanged) {
          levelChanged = false;
          form.requestSubmit();
        }
      });
  });
  // Another level for the house on show is asked for at once (the value shown stays until the answer).
  byId("level").addEventListener("change", () => {
    if (busy) levelChanged = true;
    else if (byId("house-value").dataset.value !== undefined) form.requestSubmit();
  });
}

/** Sets Latitude and Longitude (the map's click) and clears their errors. */
export function setPosition(lat: number, lon: number): void {
  input("Latitude").value = lat.toFixed(2);
  input("Longitude").value = lon.toFixed(2);
  showFieldError("Latitude", undefined);
  showFieldError("Longitude", undefined);
}

/** The form's current position when both fields hold numbers. */
export function currentPosition(): { lat: number; lon: number } | undefined {
  const lat = parseNumber(input("Latitude").value);
  const lon = parseNumber(input("Longitude").value);
  return lat.ok && lon.ok ? { lat: lat.value, lon: lon.value } : undefined;
}
