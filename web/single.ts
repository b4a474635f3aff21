/**
 * "One house": one input per feature (named as the API names it), labelled with the unit and training range
 * from the model card, defaults a typical hold-out house; submitting calls GET /predict (cacheable at the edge)
 * and shows the value, whether a cache served it and how long it took. A 422's field errors appear beside the
 * fields, tied to them with aria-invalid and aria-describedby.
 */
import { FEATURES, type FeatureName } from "../shared/input/features";
import typical from "./data/typical-house.json";
import { client, describeFailure, send, type FeatureInfo, type House, type Problem } from "./api/client";
import { parseNumber } from "./csv";
import { byId, make } from "./dom";

const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });

/** "$452,600" from a value in units of $100,000. */
export const formatValue = (houseValue: number) => dollars.format(houseValue * 100_000);

const input = (f: FeatureName) => byId<HTMLInputElement>(f);

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

/** Adds each feature's description, unit and training range (from GET /model) to its label. */
export function describeFields(features: FeatureInfo[]): void {
  const nf = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });
  for (const info of features) {
    const hint = document.getElementById(`${info.name}-hint`);
    if (!hint) continue;
    hint.textContent = `${info.description}, in ${info.unit}; trained on ${nf.format(info.min)} to ${nf.format(info.max)}`;
  }
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

async function predictOne(status: HTMLElement): Promise<void> {
  const result = byId("house-value");
  const meta = byId("house-meta");
  const house = readHouse();
  if (!house) {
    status.textContent = "Fix the marked fields.";
    focusFirstInvalid();
    return;
  }
  status.textContent = "Predicting…";
  const started = performance.now();
  const { data, error, response } = await send(
    () => client.GET("/predict", { params: { query: house } }),
    (m) => (status.textContent = m),
  );
  const ms = Math.round(performance.now() - started);
  if (!data) {
    showProblem(error as Problem | undefined, response, status);
    return;
  }
  result.dataset.value = String(data.house_value);
  result.textContent = formatValue(data.house_value);
  meta.textContent = `${cacheNote(response)} · ${ms} ms`;
  status.textContent = "";
}

export function wireForm(): void {
  const form = byId<HTMLFormElement>("house-form");
  const status = byId("house-status");
  let busy = false; // one prediction at a time: a second Enter while one is in flight is ignored
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
      });
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
