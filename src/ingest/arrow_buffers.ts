/**
 * Checks of an Arrow column's buffers against its own metadata: offsets
 * that stay inside the value bytes, UTF-8 text, dictionary indices inside
 * their dictionary, buffers long enough for the declared length. The JS
 * decoder reads past none of these (it answers null or a short array), but
 * the engine trusts them and reads whatever memory they point at: a
 * dictionary index of a billion made it return gigabytes of garbage.
 *
 * @module
 */

import { type Data, type DataType, Type } from "apache-arrow";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Checks one column of one record batch. A slice's value and offset
 * buffers start at its first row; only its validity and boolean bitmaps
 * are read from `data.offset` on, as apache-arrow lays slices out.
 *
 * @throws {Error} naming what is inconsistent.
 */
export function checkColumnData(data: Data<DataType>): void {
  const end = data.offset + data.length;
  if (data.nullCount > 0 && data.nullBitmap && data.nullBitmap.length < Math.ceil(end / 8)) {
    throw new Error("validity bitmap shorter than the column");
  }
  switch (data.typeId) {
    case Type.Utf8:
    case Type.LargeUtf8:
      return checkText(data);
    case Type.Dictionary:
      return checkDictionary(data);
    case Type.Bool:
      if ((data.values?.length ?? 0) < Math.ceil(end / 8)) throw new Error("values too short");
      return;
    case Type.Null:
      return;
    default:
      // Fixed-width values: `stride` elements of the typed array per row.
      if ((data.values?.length ?? 0) < data.length * data.stride) {
        throw new Error("values too short");
      }
  }
}

/** Offsets inside the value bytes, non-decreasing, and each string valid UTF-8. */
function checkText(data: Data<DataType>): void {
  const offsets = data.valueOffsets as Int32Array | BigInt64Array | undefined;
  const bytes = data.values as Uint8Array | undefined;
  const n = data.length;
  if (n === 0) return;
  if (!offsets || !bytes || offsets.length < n + 1) {
    throw new Error("string offsets shorter than the column");
  }
  const first = Number(offsets[0]);
  const last = Number(offsets[n]);
  if (first < 0 || last > bytes.length) throw new Error("string offsets outside the value bytes");
  let prev = first;
  for (let i = 0; i <= n; i++) {
    const o = Number(offsets[i]);
    if (o < prev) throw new Error("string offsets decrease");
    // A string starting on a UTF-8 continuation byte splits a character.
    if (o < last && (bytes[o] & 0xc0) === 0x80) throw new Error("a string is not valid UTF-8");
    prev = o;
  }
  try {
    utf8.decode(bytes.subarray(first, last));
  } catch {
    throw new Error("a string is not valid UTF-8");
  }
}

/** Every valid index inside the dictionary, and the dictionary itself sound. */
function checkDictionary(data: Data<DataType>): void {
  const dictionary = data.dictionary;
  if (!dictionary) throw new Error("dictionary column without a dictionary");
  for (const chunk of dictionary.data) checkColumnData(chunk);
  const size = dictionary.length;
  const indices = data.values as ArrayLike<number | bigint> | undefined;
  if (!indices || indices.length < data.length) throw new Error("dictionary indices too short");
  const bitmap = data.nullCount > 0 ? data.nullBitmap : undefined;
  for (let i = 0; i < data.length; i++) {
    const bit = data.offset + i;
    if (bitmap && ((bitmap[bit >> 3] >> (bit & 7)) & 1) === 0) continue;
    const index = Number(indices[i]);
    if (!(index >= 0 && index < size)) {
      throw new Error(`dictionary index ${index} outside a dictionary of ${size} values`);
    }
  }
}
