import { featureOk } from "./house-object-packer";
import { FEATURES, WIDTH } from "./features";

const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const ALL_SEEN = (1 << WIDTH) - 1;

// Keys are compared as raw bytes: a key that matches one of these exactly (closing quote included) cannot
// contain an escape, so its JSON.parse value is this very name.
const NAMES = FEATURES.map((f) => Uint8Array.from(f, (ch) => ch.charCodeAt(0)));
const HOUSES = Uint8Array.from('"houses"', (ch) => ch.charCodeAt(0));
// The shortest possible house, `{"MedInc":1,...}`: sets an upper bound on the rows a body can hold, so the
// bulk tensor is allocated once and never grown.
const MIN_HOUSE = 2 + (WIDTH - 1) + FEATURES.reduce((n, f) => n + f.length + 4, 0);
// 10^0..10^22: every one is exact in a double, which is what makes Clinger's fast path correctly rounded.
const POW10 = Array.from({ length: 23 }, (_, e) => Number(`1e${e}`));
const ASCII = new TextDecoder();
// Below this, m * 10 + 9 < 2^53: another digit still leaves m exact.
const M_LIMIT = Math.floor((2 ** 53 - 9) / 10);

/** What one scan counts as it goes: numbers that needed Number() (see PROBE_ROWS). One per scan, never shared. */
interface Tally {
  slowNumbers: number;
}

// scanHouses looks at this many rows first: if they are mostly full-precision doubles (17 digits, as
// Python's repr writes them), JSON.parse is faster than scanning plus Number(), so it hands over.
const PROBE_ROWS = 16;

function skipWs(b: Uint8Array, i: number): number {
  const n = b.length;
  while (i < n) {
    const ch = b[i]!;
    if (ch !== 0x20 && ch !== 0x0a && ch !== 0x0d && ch !== 0x09) break;
    i++;
  }
  return i;
}

// The text of an ASCII slice. Short ones (every plain double) are built by hand: cheaper than a
// subarray plus a TextDecoder call, which is what made 17-digit bodies slower than JSON.parse.
function asciiText(b: Uint8Array, from: number, to: number): string {
  if (to - from > 40) return ASCII.decode(b.subarray(from, to));
  let text = "";
  for (let k = from; k < to; k++) text += String.fromCharCode(b[k]!);
  return text;
}

function isDigit(ch: number): boolean {
  return ch >= ZERO && ch <= NINE;
}

// Reads the JSON number (RFC 8259 grammar) starting at `i` exactly as JSON.parse would, checks it against
// feature `c` and stores it at out[at]; returns the index after it, or -1. Storing here rather than returning
// the double keeps it unboxed: only small integers cross the call.
function packNumber(b: Uint8Array, i: number, c: number, out: Float32Array, at: number, tally: Tally): number {
  const n = b.length;
  const start = i;
  let ch = i < n ? b[i]! : -1;
  const neg = ch === MINUS;
  if (neg) ch = ++i < n ? b[i]! : -1;
  // m collects the significant digits while it stays an exact integer below 2^53 (every 15-digit and most
  // 16-digit significands); `slow` marks a number with more (or a huge exponent), whose value Number()
  // computes instead. scale is what the fraction digits add to the decimal exponent.
  let m = 0;
  let slow = false;
  let scale = 0;
  if (ch === ZERO) {
    ch = ++i < n ? b[i]! : -1;
    if (isDigit(ch)) return -1; // leading zero: "01"
  } else if (ch > ZERO && ch <= NINE) {
    do {
      if (m < M_LIMIT) m = m * 10 + (ch - ZERO);
      else slow = true;
      ch = ++i < n ? b[i]! : -1;
    } while (isDigit(ch));
  } else {
    return -1;
  }
  if (ch === DOT) {
    ch = ++i < n ? b[i]! : -1;
    if (!isDigit(ch)) return -1; // "1."
    do {
      // Zeros before the first significant digit only move the decimal point.
      if (m === 0 && ch === ZERO) {
        scale--;
      } else if (m < M_LIMIT) {
        m = m * 10 + (ch - ZERO);
        scale--;
      } else {
        slow = true;
      }
      ch = ++i < n ? b[i]! : -1;
    } while (isDigit(ch));
  }
  let exp = 0;
  if (ch === 0x65 || ch === 0x45) {
    // "e" or "E"
    ch = ++i < n ? b[i]! : -1;
    const expNeg = ch === MINUS;
    if (expNeg || ch === PLUS) ch = ++i < n ? b[i]! : -1;
    if (!isDigit(ch)) return -1; // "1e"
    do {
      // Past the cap, Number() takes over: a truncated exponent plus a huge fraction scale could land in range.
      if (exp < 100000) exp = exp * 10 + (ch - ZERO);
      else slow = true;
      ch = ++i < n ? b[i]! : -1;
    } while (isDigit(ch));
    if (expNeg) exp = -exp;
  }
  const e = exp + scale;
  let v: number;
  if (!slow && m === 0) {
    v = 0;
  } else if (!slow && e >= -22 && e <= 22) {
    // Clinger: m and 10^|e| are both exact doubles, so the one multiplication or division rounds correctly.
    v = e >= 0 ? m * POW10[e]! : m / POW10[-e]!;
  } else {
    // 17-digit doubles, big exponents: the slice is ASCII by construction, and Number() rounds as JSON.parse.
    v = Number(asciiText(b, neg ? start + 1 : start, i));
    tally.slowNumbers++;
  }
  if (neg) v = -v;
  if (!featureOk(c, v)) return -1;
  out[at] = v;
  return i;
}

function sameBytes(b: Uint8Array, i: number, name: Uint8Array): boolean {
  const len = name.length;
  if (i + len >= b.length || b[i + len] !== QUOTE) return false;
  for (let k = 0; k < len; k++) if (b[i + k] !== name[k]) return false;
  return true;
}

// The column of the key whose text starts at `i` (after the opening quote), or -1. The key's text then ends
// at i + NAMES[c].length, followed by its closing quote.
function matchKey(b: Uint8Array, i: number, guess: number): number {
  // Most clients send the keys in FEATURES order, so the guess usually matches first time.
  let c = guess < WIDTH && sameBytes(b, i, NAMES[guess]!) ? guess : -1;
  for (let k = 0; c < 0 && k < WIDTH; k++) if (sameBytes(b, i, NAMES[k]!)) c = k;
  return c;
}

// One house object starting at `i`, written into out[base..base+7]; the index after its `}`, or -1.
function scanObject(b: Uint8Array, i: number, out: Float32Array, base: number, tally: Tally): number {
  const n = b.length;
  if (i >= n || b[i] !== LBRACE) return -1;
  i = skipWs(b, i + 1);
  let seen = 0;
  for (let k = 0; ; k++) {
    if (i >= n || b[i] !== QUOTE) return -1;
    const c = matchKey(b, i + 1, k);
    // Duplicates bail rather than emulate JSON.parse's last-one-wins.
    if (c < 0 || (seen & (1 << c)) !== 0) return -1;
    seen |= 1 << c;
    // Past the key's text and its closing quote.
    i = skipWs(b, i + 1 + NAMES[c]!.length + 1);
    if (i >= n || b[i] !== COLON) return -1;
    i = packNumber(b, skipWs(b, i + 1), c, out, base + c, tally);
    if (i < 0) return -1;
    i = skipWs(b, i);
    if (i >= n) return -1;
    const ch = b[i];
    if (ch === RBRACE) return seen === ALL_SEEN ? i + 1 : -1;
    if (ch !== COMMA) return -1;
    i = skipWs(b, i + 1);
  }
}

/**
 * The /predict fast path on the raw UTF-8 body: true if `bytes` is exactly what JSON.parse + packHouse accept,
 * with the same float32 values written at `out[rowIndex*8 + column]`, and nothing allocated for ordinary numbers.
 * False means "not handled here": the caller takes the slow path, which produces the precise error. It is
 * conservative, so a few bodies the slow path accepts still return false (duplicate keys, escaped keys, a BOM).
 * Like packHouse, a false return may leave that row of `out` partly written.
 */
export function scanHouse(bytes: Uint8Array, out: Float32Array, rowIndex: number): boolean {
  const i = scanObject(bytes, skipWs(bytes, 0), out, rowIndex * WIDTH, { slowNumbers: 0 });
  return i >= 0 && skipWs(bytes, i) === bytes.length;
}

/**
 * The /bulk_predict fast path on the raw UTF-8 body `{"houses":[...]}`: the same tensor as JSON.parse + packBulk
 * (length exactly rows*8, byteOffset 0), or undefined when not handled here, including an empty array and more
 * than `maxRows` houses, so the slow path can answer with the right error (the 413 among them).
 */
export function scanHouses(
  bytes: Uint8Array,
  maxRows: number = Infinity,
): { tensor: Float32Array; rows: number } | undefined {
  const b = bytes;
  const n = b.length;
  let i = skipWs(b, 0);
  if (i >= n || b[i] !== LBRACE) return undefined;
  i = skipWs(b, i + 1);
  if (i + HOUSES.length > n) return undefined;
  for (let k = 0; k < HOUSES.length; k++) if (b[i + k] !== HOUSES[k]) return undefined;
  i = skipWs(b, i + HOUSES.length);
  if (i >= n || b[i] !== COLON) return undefined;
  i = skipWs(b, i + 1);
  if (i >= n || b[i] !== LBRACKET) return undefined;
  i = skipWs(b, i + 1);
  // Every house takes at least MIN_HOUSE bytes plus a separator, so this many rows always fit.
  const capacity = Math.floor(Math.min((n - i + 1) / (MIN_HOUSE + 1), maxRows));
  if (!(capacity >= 1)) return undefined;
  const tensor = scratchFor(capacity);
  let rows = 0;
  const tally: Tally = { slowNumbers: 0 };
  for (;;) {
    if (rows >= capacity) return undefined;
    i = scanObject(b, i, tensor, rows * WIDTH, tally);
    if (i < 0) return undefined;
    rows++;
    if (rows === PROBE_ROWS && tally.slowNumbers > PROBE_ROWS * 2) return undefined;
    i = skipWs(b, i);
    if (i >= n) return undefined;
    const ch = b[i];
    if (ch === RBRACKET) break;
    if (ch !== COMMA) return undefined;
    i = skipWs(b, i + 1);
  }
  i = skipWs(b, i + 1);
  if (i >= n || b[i] !== RBRACE || skipWs(b, i + 1) !== n) return undefined;
  // The consumer needs an exact-length tensor of its own; slice copies into a fresh buffer at byteOffset 0.
  return { tensor: tensor.slice(0, rows * WIDTH), rows };
}

// Rows are scanned into one reused buffer, then copied out at their exact count: the capacity estimate is ~1.6×
// the rows a real body holds, and a fresh buffer of that size per bulk was garbage the size of the tensor itself
// (0.5 MB per 10,000 rows), promoted while the bulk ran. Kept up to SCRATCH_KEEP_ROWS; bigger scans use their own.
const SCRATCH_KEEP_ROWS = 16_384;
let scratch = new Float32Array(0);

function scratchFor(rows: number): Float32Array {
  if (rows > SCRATCH_KEEP_ROWS) return new Float32Array(rows * WIDTH);
  if (scratch.length < rows * WIDTH) scratch = new Float32Array(Math.max(rows, 1024) * WIDTH);
  return scratch;
}
