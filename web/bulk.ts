/**
 * "Many houses": a CSV file whose header names the eight features → POST /bulk_predict in chunks of at most
 * MAX_BATCH (the document's `maxItems` of `houses`), one after another with a progress bar → a preview table
 * and a CSV download with a `house_value` column in input order. A bad row, found here or by the service, is
 * reported with its line and field, and nothing is sent or dropped silently.
 */
import { FEATURES, type FeatureName } from "../shared/input/features";
import { client, describeFailure, maxBatch, send, type Problem } from "./api/client";
import { parseHouses, toCsv, type CsvProblem, type HouseRow } from "./csv";
import { byId, make } from "./dom";
import { formatValue } from "./single";

/**
 * Used only when the document does not publish `maxItems` (a service older than the page): small enough for
 * any MAX_BATCH a deployment would set, and a 413 still names the limit.
 */
const FALLBACK_BATCH = 100;
const PREVIEW_ROWS = 10;
const SHOWN_PROBLEMS = 20;

let downloadUrl: string | undefined;

function showProblems(problems: CsvProblem[]): void {
  const list = byId("bulk-problems");
  list.replaceChildren(
    ...problems
      .slice(0, SHOWN_PROBLEMS)
      .map((p) => make("li", { textContent: `Line ${p.line}${p.field ? `, ${p.field}` : ""}: ${p.message}` })),
  );
  if (problems.length > SHOWN_PROBLEMS) {
    list.append(make("li", { textContent: `…and ${problems.length - SHOWN_PROBLEMS} more problems` }));
  }
  list.hidden = problems.length === 0;
}

/** The service's 422 for a chunk: `houses[i].Field` errors as the CSV lines they came from. */
function chunkProblems(problem: Problem | undefined, chunk: HouseRow<FeatureName>[]): CsvProblem[] {
  return (problem?.errors ?? []).map((e) => {
    const m = /^houses\[(\d+)\]\.?(.*)$/.exec(e.path);
    const row = m ? chunk[Number(m[1])] : undefined;
    return row
      ? { line: row.line, field: m![2] || undefined, message: e.message }
      : { line: chunk[0]!.line, message: `${e.path}: ${e.message}` };
  });
}

function showPreview(rows: HouseRow<FeatureName>[], values: number[]): void {
  const table = byId<HTMLTableElement>("bulk-preview");
  const head = make("tr");
  for (const name of ["Line", ...FEATURES, "house_value"]) head.append(make("th", { scope: "col", textContent: name }));
  const body = rows.slice(0, PREVIEW_ROWS).map((r, k) => {
    const tr = make("tr");
    tr.append(make("td", { textContent: String(r.line) }));
    for (const f of FEATURES) tr.append(make("td", { textContent: String(r.house[f]) }));
    tr.append(make("td", { textContent: formatValue(values[k]!), title: String(values[k]) }));
    return tr;
  });
  table.replaceChildren(
    make("caption", {
      textContent: `First ${Math.min(PREVIEW_ROWS, rows.length)} of ${rows.length.toLocaleString("en-US")} rows`,
    }),
    make("thead"),
    make("tbody"),
  );
  table.tHead!.append(head);
  table.tBodies[0]!.append(...body);
  byId("bulk-results").hidden = false;
}

function offerDownload(csv: string, name: string): void {
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
  const link = byId<HTMLAnchorElement>("bulk-download");
  link.href = downloadUrl;
  link.download = name.replace(/\.csv$/i, "") + "-house-values.csv";
}

/** Sends the rows in chunks, in order; the values, or undefined after reporting what stopped it. */
async function predictAll(rows: HouseRow<FeatureName>[], status: HTMLElement): Promise<number[] | undefined> {
  const progress = byId<HTMLProgressElement>("bulk-progress");
  const notify = (m: string) => (status.textContent = m);
  const size = (await maxBatch(notify)) ?? FALLBACK_BATCH;
  progress.max = rows.length;
  progress.value = 0;
  progress.hidden = false;
  const values: number[] = [];
  for (let start = 0; start < rows.length; start += size) {
    const chunk = rows.slice(start, start + size);
    status.textContent = `Predicting ${start.toLocaleString("en-US")}–${(start + chunk.length).toLocaleString("en-US")} of ${rows.length.toLocaleString("en-US")} houses…`;
    const houses = chunk.map((r) => r.house);
    const { data, error, response } = await send(() => client.POST("/bulk_predict", { body: { houses } }), notify);
    if (!data) {
      const problems = chunkProblems(error as Problem | undefined, chunk);
      showProblems(problems);
      status.textContent = `Stopped at line ${chunk[0]!.line}: ${describeFailure(error, response)}. ${start} of ${rows.length} houses were predicted; nothing was downloaded.`;
      return undefined;
    }
    values.push(...data.house_values);
    progress.value = values.length;
  }
  return values;
}

async function run(file: File, status: HTMLElement): Promise<void> {
  byId("bulk-results").hidden = true;
  byId("bulk-progress").hidden = true;
  status.textContent = `Reading ${file.name}…`;
  const parsed = parseHouses(await file.text(), FEATURES);
  showProblems(parsed.problems);
  if (parsed.problems.length > 0) {
    const n = parsed.problems.length;
    status.textContent = `${file.name} has ${n} problem${n === 1 ? "" : "s"}; nothing was sent. Fix them and choose the file again.`;
    return;
  }
  const values = await predictAll(parsed.rows, status);
  if (!values) return;
  showPreview(parsed.rows, values);
  offerDownload(toCsv(parsed.header, parsed.rows, values), file.name);
  status.textContent = `Predicted ${values.length.toLocaleString("en-US")} houses.`;
}

export function wireBulk(): void {
  const picker = byId<HTMLInputElement>("bulk-file");
  const status = byId("bulk-status");
  picker.addEventListener("change", () => {
    const file = picker.files?.[0];
    if (!file) return;
    picker.value = ""; // choosing the same file again (after fixing it) must run again
    void run(file, status).catch((err: unknown) => {
      status.textContent = `The upload failed: ${err instanceof Error ? err.message : String(err)}`;
    });
  });
}
