/**
 * CSV for the page's "many houses" flow: RFC 4180 records (quoted fields, doubled quotes, CRLF or LF), each
 * with the line it starts on, so every problem is reported as "line N, field F". Pure: no DOM, tested in Node.
 */
import { JSON_NUMBER } from "../shared/input/response-options";

export interface CsvRecord {
  /** 1-based line on which the record starts (a quoted field may span lines). */
  line: number;
  fields: string[];
}

export interface CsvProblem {
  line: number;
  field?: string;
  message: string;
}

/** Splits CSV text into records; an unterminated quote is reported on the line its field started. */
export function parseCsvRecords(text: string): { records: CsvRecord[]; problem?: CsvProblem } {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let start = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark is not part of the first name
  const endRecord = () => {
    fields.push(field);
    records.push({ line: start, fields });
    fields = [];
    field = "";
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"' && field === "") {
      const quoteLine = line;
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return { records, problem: { line: quoteLine, message: "a quoted field is never closed" } };
        field += text.slice(j, q);
        line += countNewlines(text, j, q);
        if (text[q + 1] === '"') {
          field += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      const next = text[i];
      if (next !== undefined && next !== "," && next !== "\n" && next !== "\r") {
        return { records, problem: { line, message: "unexpected text after a closing quote" } };
      }
      continue;
    }
    if (c === ",") {
      fields.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRecord();
      line++;
      start = line;
    } else {
      field += c;
    }
    i++;
  }
  if (field !== "" || fields.length > 0) endRecord();
  return { records };
}

function countNewlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) {
    if (text[k] === "\n" || (text[k] === "\r" && text[k + 1] !== "\n")) n++;
  }
  return n;
}

/** A form or CSV value as the API's number, or why not. */
export function parseNumber(text: string): { ok: true; value: number } | { ok: false; message: string } {
  const t = text.trim();
  if (t === "") return { ok: false, message: "is empty; a number is required" };
  if (!JSON_NUMBER.test(t)) return { ok: false, message: `${JSON.stringify(text.slice(0, 40))} is not a number` };
  const value = Number(t);
  if (!Number.isFinite(value)) return { ok: false, message: `${t.slice(0, 40)} is out of range` };
  return { ok: true, value };
}

export interface HouseRow<F extends string> {
  line: number;
  fields: string[];
  house: Record<F, number>;
}

export interface ParsedHouses<F extends string> {
  header: string[];
  rows: HouseRow<F>[];
  problems: CsvProblem[];
}

/**
 * Reads houses from CSV whose header names every feature (any order; other columns are kept and passed
 * through). Every bad row is reported with its line and field; nothing is dropped. Blank lines at the end
 * are ignored; a blank line between rows is a problem.
 */
export function parseHouses<F extends string>(text: string, features: readonly F[]): ParsedHouses<F> {
  const { records, problem } = parseCsvRecords(text);
  const problems: CsvProblem[] = problem ? [problem] : [];
  while (records.length > 0 && isBlank(records[records.length - 1]!)) records.pop();
  const head = records.shift();
  if (!head) return { header: [], rows: [], problems: [...problems, { line: 1, message: "the file is empty" }] };
  const header = head.fields.map((h) => h.trim());
  const columns = new Map<string, number>();
  header.forEach((name, k) => {
    if (columns.has(name)) problems.push({ line: head.line, field: name, message: "column named twice" });
    columns.set(name, k);
  });
  const missing = features.filter((f) => !columns.has(f));
  if (missing.length > 0) {
    problems.push({
      line: head.line,
      message: `the header lacks ${missing.join(", ")} (needs ${features.join(", ")})`,
    });
    return { header, rows: [], problems };
  }
  const rows: HouseRow<F>[] = [];
  for (const r of records) {
    if (isBlank(r)) {
      problems.push({ line: r.line, message: "empty row" });
      continue;
    }
    if (r.fields.length !== header.length) {
      problems.push({ line: r.line, message: `has ${r.fields.length} fields; the header has ${header.length}` });
      continue;
    }
    const house = {} as Record<F, number>;
    let good = true;
    for (const f of features) {
      const n = parseNumber(r.fields[columns.get(f)!]!);
      if (n.ok) house[f] = n.value;
      else {
        good = false;
        problems.push({ line: r.line, field: f, message: n.message });
      }
    }
    if (good) rows.push({ line: r.line, fields: r.fields, house });
  }
  if (rows.length === 0 && problems.length === 0)
    problems.push({ line: head.line, message: "no rows after the header" });
  return { header, rows, problems };
}

function isBlank(r: CsvRecord): boolean {
  return r.fields.length === 1 && r.fields[0]!.trim() === "";
}

/** One CSV field, quoted when it holds a comma, a quote or a line break. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** The input's columns and rows, in input order, with a `house_value` column appended. */
export function toCsv(header: string[], rows: { fields: string[] }[], values: number[]): string {
  const lines = [[...header, "house_value"].map(csvField).join(",")];
  rows.forEach((r, k) => lines.push([...r.fields.map(csvField), String(values[k])].join(",")));
  return lines.join("\r\n") + "\r\n";
}
