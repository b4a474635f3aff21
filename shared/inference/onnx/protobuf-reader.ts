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

  float32(field: Field): number {
    return this.view.getFloat32(field.value, true);
  }

  float64(field: Field): number {
    return this.view.getFloat64(field.value, true);
  }

  /** A repeated varint field, packed (proto3's default) or one value per field. */
  varints(field: Field, into: number[]): void {
    if (field.wire === WIRE.VARINT) {
      into.push(field.value);
      return;
    }
    const r = this.sub(field);
    while (r.pos < r.end) into.push(r.varint());
  }

  /** A repeated float field, packed or one value per field. */
  floats(field: Field, into: number[]): void {
    if (field.wire === WIRE.FIXED32) {
      into.push(this.float32(field));
      return;
    }
    if ((field.end - field.value) % 4 !== 0) throw new Error("protobuf: packed floats of a length not divisible by 4");
    for (let at = field.value; at < field.end; at += 4) into.push(this.view.getFloat32(at, true));
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
    if (length > this.end - start) throw new Error("protobuf: field runs past the end of its message");
    this.pos += length;
    return start;
  }
}
