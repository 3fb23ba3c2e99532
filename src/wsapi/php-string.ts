// The few PHP 8 string semantics yubikey-val's verify path depends on, reimplemented exactly enough that
// every request is classified as PHP would. Strings here are "byte strings": one char = one byte (0-255).

/** Characters PHP's trim() strips by default: " \t\n\r\0\x0B". */
const TRIM_RE = /^[ \t\n\r\0\x0B]+|[ \t\n\r\0\x0B]+$/g

export function phpTrim (s: string): string {
  return s.replace(TRIM_RE, '')
}

// PHP 8 numeric string: optional leading AND trailing whitespace (" \t\n\r\v\f"), no trailing garbage.
const NUMERIC_RE = /^[ \t\n\r\v\f]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t\n\r\v\f]*$/
// The numeric prefix intval() reads (trailing garbage allowed).
const NUMERIC_PREFIX_RE = /^[ \t\n\r\v\f]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)/
const INTEGER_RE = /^[+-]?[0-9]+$/

const LONG_MAX = 2n ** 63n - 1n
const LONG_MIN = -(2n ** 63n)
const LONG_MAX_NUMBER = Number(LONG_MAX)

/** A parsed PHP numeric string: an integer (zend_long) or a double; `overflow` = integer syntax out of range. */
interface PhpNumber {
  isInt: boolean
  int: bigint
  double: number
  overflow: -1 | 0 | 1
}

function toPhpNumber (literal: string): PhpNumber {
  if (INTEGER_RE.test(literal)) {
    const n = BigInt(literal)
    if (n > LONG_MAX) return { isInt: false, int: 0n, double: Number(literal), overflow: 1 }
    if (n < LONG_MIN) return { isInt: false, int: 0n, double: Number(literal), overflow: -1 }
    return { isInt: true, int: n, double: Number(n), overflow: 0 }
  }
  return { isInt: false, int: 0n, double: Number(literal), overflow: 0 }
}

function parseNumeric (s: string): PhpNumber | null {
  const m = NUMERIC_RE.exec(s)
  return m ? toPhpNumber(m[1]!) : null
}

/** PHP 8 is_numeric() on a string. */
export function isPhpNumeric (s: string): boolean {
  return NUMERIC_RE.test(s)
}

/**
 * PHP intval() on a string (PHP >= 7.1): the leading numeric prefix, doubles truncated towards zero and
 * capped to the zend_long range; no numeric prefix gives 0. Returned as a JS number (only compared).
 */
export function phpIntval (s: string): number {
  const m = NUMERIC_PREFIX_RE.exec(s)
  if (!m) return 0
  const n = toPhpNumber(m[1]!)
  if (n.isInt) return Number(n.int)
  if (Number.isNaN(n.double)) return 0
  return Math.max(Math.min(Math.trunc(n.double), LONG_MAX_NUMBER), -LONG_MAX_NUMBER) + 0 // no -0
}

/** Numeric comparison of two numeric strings as zendi_smart_strcmp does it; null = "compare as strings". */
function compareNumbers (a: PhpNumber, b: PhpNumber): number | null {
  // Integers that overflowed to the same side and look equal as doubles: PHP compares the strings.
  if (a.overflow !== 0 && a.overflow === b.overflow && a.double === b.double) return null
  if (a.isInt && b.isInt) return a.int < b.int ? -1 : a.int > b.int ? 1 : 0
  // An in-range integer against an overflowed one: the overflow side decides, not the rounded doubles.
  if (a.isInt && b.overflow !== 0) return -b.overflow
  if (b.isInt && a.overflow !== 0) return a.overflow
  if (a.double === b.double && !Number.isFinite(a.double)) return null
  return a.double < b.double ? -1 : a.double > b.double ? 1 : 0
}

function compareBytes (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * PHP 8 ksort() key order (SORT_REGULAR): two numeric keys compare as numbers, anything else byte-wise.
 * For ordinary parameter names this is plain byte order (upper case before lower case). Like PHP's, this
 * order is not transitive for sets mixing numeric and non-numeric keys such as {"9", "10", "1e1x"};
 * for those our sort may place keys differently from zend_sort (no real client sends such names).
 */
export function phpKeyCompare (a: string, b: string): number {
  const na = parseNumeric(a)
  const nb = na ? parseNumeric(b) : null
  if (na && nb) {
    const c = compareNumbers(na, nb)
    if (c !== null) return c
  }
  return compareBytes(a, b)
}

/** PHP 8 `$a == $b` for two strings: numerically when both are numeric strings, else byte equality. */
export function phpLooseEquals (a: string, b: string): boolean {
  const na = parseNumeric(a)
  const nb = na ? parseNumeric(b) : null
  if (na && nb) {
    const c = compareNumbers(na, nb)
    if (c !== null) return c === 0
  }
  return a === b
}

/** PHP 8 `$s == 1` (string vs int): numeric strings compare as numbers, others as the string "1". */
export function phpLooseEqualsOne (s: string): boolean {
  const n = parseNumeric(s)
  if (n) return n.isInt ? n.int === 1n : n.double === 1
  return s === '1'
}

/** PHP ctype_digit() on a string: non-empty, ASCII digits only. */
export function ctypeDigit (s: string): boolean {
  return /^[0-9]+$/.test(s)
}
