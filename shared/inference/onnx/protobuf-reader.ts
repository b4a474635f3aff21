/**
 * The protobuf wire format, read-only and just enough for ONNX's ModelProto: varints, length-delimited
 * fields, 32/64-bit fixed fields and packed repeated fields. No schema: callers switch on field numbers.
 * Every read is bounds-checked, so a truncated or hostile file throws instead of reading past its end.
 */

const UTF8 = new TextDecoder("utf-8", { fatal: true });

export const WIRE = { VARINT: 0, FIXED64: 1, BYTES: 2, FIXED32: 5 } as const;

export interface Field {
  no: number;
  wire: number;
  /** VARINT: the value (int64 two's complement, exact up to 2^53); FIXED32/FIXED64: the offset of the bytes; BYTES: the start. */
  value: number;
  /** BYTES only: the end of the bytes. */
  end: number;
}

export class ProtobufReader {
  private pos: number;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    private readonly end = bytes.length,
  ) {
    if (end > bytes.length || start > end) throw new Error("protobuf: range outside the buffer");
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The next field, or undefined at the end of the message. */
  next(): Field | undefined {
    if (this.pos >= this.end) return undefined;
    const tag = this.varint();
    const no = Math.floor(tag / 8);
    const wire = tag % 8;
    if (no === 0) throw new Error("protobuf: field number 0");
    switch (wire) {
      case WIRE.VARINT:
        return { no, wire, value: this.varint(), end: this.pos };
      case WIRE.FIXED64:
        return { no, wire, value: this.skip(8), end: this.pos };
      case WIRE.FIXED32:
        return { no, wire, value: this.skip(4), end: this.pos };
      case WIRE.BYTES: {
        const length = this.varint();
        const start = this.skip(length);
        return { no, wire, value: start, end: this.pos };
      }
      default:
        throw new Error(`protobuf: unsupported wire type ${wire} (field ${no})`);
    }
  }

  /** A reader over a BYTES field's contents (a sub-message or a packed array). */
  sub(field: Field): ProtobufReader {
    return new ProtobufReader(this.bytes, field.value, field.end);
  }

  string(field: Field): string {
    return UTF8.decode(this.bytes.subarray(field.value, field.end));
  }

  /**
   * A repeated string field: `first` and the fields of the same number right after it, read in one go. A
   * string whose bytes equal one of the last few is that string again, not a new one (a tree ensemble lists a
   * node mode per node: tens of thousands of "LEAF" and "BRANCH_LEQ", read in every cold start).
   */
  strings(first: Field, into: string[]): void {
    const seen: { start: number; end: number; text: string }[] = [];
    const tag = first.no * 8 + WIRE.BYTES;
    let { value: start, end } = first;
    for (;;) {
      let text = seen.find((s) => this.sameBytes(s.start, s.end, start, end))?.text;
      if (text === undefined) {
        text = UTF8.decode(this.bytes.subarray(start, end));
        if (seen.unshift({ start, end, text }) > 4) seen.pop();
      }
      into.push(text);
      if (!this.nextIs(tag)) return;
      const length = this.varint();
      start = this.skip(length);
      end = this.pos;
    }
  }

  private sameBytes(a: number, aEnd: number, b: number, bEnd: number): boolean {
    if (aEnd - a !== bEnd - b) return false;
    for (let i = 0; i < aEnd - a; i++) if (this.bytes[a + i] !== this.bytes[b + i]) return false;
    return true;
  }

  float32(field: Field): number {
    return this.view.getFloat32(field.value, true);
  }

  float64(field: Field): number {
    return this.view.getFloat64(field.value, true);
  }

  /**
   * A repeated varint field: packed (one BYTES field), or one field per value as onnx.proto's proto2 fields are
   * written — then the run of same-numbered fields right after `field` is read here too, without a Field each
   * (a tree ensemble has hundreds of thousands, read in every cold start).
   */
  varints(field: Field, into: number[]): void {
    if (field.wire === WIRE.VARINT) {
      into.push(field.value);
      while (this.nextIs(field.no * 8 + WIRE.VARINT)) into.push(this.varint());
      return;
    }
    const r = this.sub(field);
    while (r.pos < r.end) into.push(r.varint());
  }

  /** A repeated float field: packed, or one field per value (the run after `field` read here, as varints()). */
  floats(field: Field, into: number[]): void {
    if (field.wire === WIRE.FIXED32) {
      into.push(this.float32(field));
      while (this.nextIs(field.no * 8 + WIRE.FIXED32)) into.push(this.view.getFloat32(this.skip(4), true));
      return;
    }
    if ((field.end - field.value) % 4 !== 0) throw new Error("protobuf: packed floats of a length not divisible by 4");
    for (let at = field.value; at < field.end; at += 4) into.push(this.view.getFloat32(at, true));
  }

  /** Consumes the next field's tag if it is `tag` (one-byte tags: field numbers below 16, all ONNX needs). */
  private nextIs(tag: number): boolean {
    if (tag >= 128 || this.pos >= this.end || this.bytes[this.pos] !== tag) return false;
    this.pos++;
    return true;
  }

  /** A varint as a number: int64 values are read as two's complement (so -1 is -1), exact up to 2^53. */
  private varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw new Error("protobuf: truncated varint");
      const byte = this.bytes[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    // Past 49 bits (negative int64s take ten bytes) the sum would round: finish it in BigInt.
    let big = BigInt(result);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) throw new Error("protobuf: truncated varint");
      const byte = this.bytes[this.pos++]!;
      big += BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return Number(BigInt.asIntN(64, big));
    }
    throw new Error("protobuf: varint longer than 10 bytes");
  }

  private skip(length: number): number {
    const start = this.pos;
    // A negative length (a ten-byte varint) would move backwards and loop forever: refused with the rest.
    if (!(length >= 0 && length <= this.end - start))
      throw new Error("protobuf: field runs past the end of its message");
    this.pos += length;
    return start;
  }
}
