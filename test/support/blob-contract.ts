/**
 * What every BlobStore must answer for getRange over the 16-byte object "0123456789abcdef": one table, checked
 * against the filesystem store (unit) and real S3 (integration).
 */
export const RANGE_DATA = '0123456789abcdef';

export const RANGE_CASES: Array<[start: number, end: number, expected: string]> = [
  [0, 16, '0123456789abcdef'],
  [0, 1, '0'],
  [3, 7, '3456'],
  [15, 16, 'f'],
  [10, 1000, 'abcdef'], // end past the size is clamped
  [0, Number.MAX_SAFE_INTEGER, '0123456789abcdef'],
  [5, 5, ''], // empty range
  [9, 4, ''], // end before start
  [16, 20, ''], // starts at EOF
  [100, 200, ''], // starts past EOF
];
