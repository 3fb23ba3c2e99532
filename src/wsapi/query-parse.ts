// PHP's request-variable parsing ($_GET from the query string, $_POST from a urlencoded body), because
// the request signature covers the parameters exactly as PHP registered them (reference §1.2, §2.1).
// Values and names are byte strings (one char per byte); nothing here throws on malformed input.

/** A PHP array built from `name[...]` parameters: entries in insertion order, keys as PHP strings. */
export interface PhpArray {
  readonly kind: 'array'
  readonly entries: Map<string, PhpValue>
  /** PHP's nNextFreeElement: where `[]` appends next; null until an integer key exists. */
  next: bigint | null
}
export type PhpValue = string | PhpArray
/** The request map ($_GET or $_POST): top-level names → values, in registration order. */
export type RequestParams = PhpArray

// php.ini defaults.
export const MAX_INPUT_VARS = 1000
export const MAX_INPUT_NESTING_LEVEL = 64

const LONG_MAX = 2n ** 63n - 1n
const LONG_MIN = -(2n ** 63n)

export function emptyParams (): RequestParams {
  return { kind: 'array', entries: new Map(), next: null }
}

/** Bytes → byte string. A JS string is taken as text and UTF-8 encoded first. */
export function toByteString (raw: string | Uint8Array): string {
  return typeof raw === 'string' ? Buffer.from(raw, 'utf8').toString('latin1') : Buffer.from(raw).toString('latin1')
}

function isHex (c: string | undefined): boolean {
  return c !== undefined && /^[0-9A-Fa-f]$/.test(c)
}

/** php_url_decode: '+' → space, %XX → byte, an invalid or truncated %-sequence stays literally. */
export function phpUrlDecode (s: string): string {
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === '+') {
      out += ' '
    } else if (c === '%' && isHex(s[i + 1]) && isHex(s[i + 2])) {
      out += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      out += c
    }
  }
  return out
}

/** ZEND_HANDLE_NUMERIC_STR: a canonical decimal integer within zend_long becomes an integer key. */
function integerKey (key: string): bigint | null {
  if (!/^(0|-?[1-9][0-9]*)$/.test(key)) return null
  const n = BigInt(key)
  return n >= LONG_MIN && n <= LONG_MAX ? n : null
}

function setEntry (table: PhpArray, key: string, value: PhpValue): void {
  const n = integerKey(key)
  if (n !== null && (table.next === null || n >= table.next)) table.next = n < LONG_MAX ? n + 1n : LONG_MAX
  table.entries.set(key, value)
}

function appendEntry (table: PhpArray, value: PhpValue): boolean {
  const key = String(table.next ?? 0n)
  if (table.entries.has(key)) return false
  setEntry(table, key, value)
  return true
}

// CVE-2022-31629 hardening: a name that mangling turned into a __Host-/__Secure- prefix is dropped.
function isForbiddenName (mangled: string, preMangled: string): boolean {
  return ['__Host-', '__Secure-'].some((p) => mangled.startsWith(p) && !preMangled.startsWith(p))
}

const C_SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r'])

function plainVar (table: PhpArray, index: string | null, value: string, preMangled: string): void {
  if (index === null) {
    appendEntry(table, value)
  } else if (!isForbiddenName(index, preMangled)) {
    setEntry(table, index, value)
  }
}

/** php_register_variable_ex: name mangling (' ' and '.' → '_'), `a[b][]` arrays, nesting limit. */
export function registerVariable (top: PhpArray, rawName: string, value: string): void {
  // The C code is not binary safe in names: a NUL byte ends the name. Leading spaces are skipped.
  const nul = rawName.indexOf('\0')
  const name = (nul >= 0 ? rawName.slice(0, nul) : rawName).replace(/^ +/, '')
  const bracket = name.indexOf('[')
  const varName = (bracket >= 0 ? name.slice(0, bracket) : name).replace(/[ .]/g, '_')
  if (varName === '') return
  if (bracket < 0) return plainVar(top, varName, value, name)

  let table = top
  let index: string | null = varName
  let ip = bracket
  for (let nest = 1; ; nest++) {
    if (nest > MAX_INPUT_NESTING_LEVEL) {
      top.entries.delete(varName)
      return
    }
    ip++
    const indexStart = ip
    if (C_SPACE.has(name[ip] ?? '')) ip++
    let newIndex: string | null = null
    if (name[ip] !== ']') {
      const close = name.indexOf(']', ip)
      if (close < 0) {
        // Not an index after all: at the top level the '[' and the rest become part of the name.
        if (nest === 1) index = varName + '_' + name.slice(indexStart).replace(/[ .[]/g, '_')
        return plainVar(table, index, value, name)
      }
      newIndex = name.slice(indexStart, close)
      ip = close
    }
    let child: PhpValue | undefined
    if (index === null) {
      child = { kind: 'array', entries: new Map(), next: null }
      if (!appendEntry(table, child)) return
    } else {
      if (isForbiddenName(index, name)) return
      child = table.entries.get(index)
      if (child === undefined || typeof child === 'string') {
        child = { kind: 'array', entries: new Map(), next: null }
        setEntry(table, index, child)
      }
    }
    table = child
    index = newIndex
    ip++
    if (name[ip] !== '[') return plainVar(table, index, value, name)
  }
}

/** $_GET from a raw query string (without '?'): '&'-separated, empty pieces skipped, 1000 variables at most. */
export function parseQueryString (raw: string | Uint8Array): RequestParams {
  const top = emptyParams()
  const pieces = toByteString(raw).split('&').filter((p) => p !== '')
  for (const [count, piece] of pieces.entries()) {
    if (count >= MAX_INPUT_VARS) break
    const eq = piece.indexOf('=')
    const name = eq < 0 ? piece : piece.slice(0, eq)
    registerVariable(top, phpUrlDecode(name), eq < 0 ? '' : phpUrlDecode(piece.slice(eq + 1)))
  }
  return top
}

/**
 * $_POST from an application/x-www-form-urlencoded body (php_std_post_handler): like the query string,
 * but empty pieces count towards max_input_vars and the limit stops parsing one variable later.
 */
export function parseFormBody (raw: string | Uint8Array): RequestParams {
  const top = emptyParams()
  const body = toByteString(raw)
  if (body === '') return top
  const pieces = body.split('&')
  if (pieces[pieces.length - 1] === '') pieces.pop() // a trailing '&' ends the body, it is no empty piece
  let count = 0
  for (const piece of pieces) {
    const eq = piece.indexOf('=')
    const name = eq < 0 ? piece : piece.slice(0, eq)
    registerVariable(top, phpUrlDecode(name), eq < 0 ? '' : phpUrlDecode(piece.slice(eq + 1)))
    if (++count > MAX_INPUT_VARS) break
  }
  return top
}

/**
 * yubikey-val's parameter source: the query string if it yields at least one parameter, otherwise the
 * urlencoded POST body (pass it only when the content type is application/x-www-form-urlencoded).
 */
export function selectRequestParams (query: string | null | undefined, body?: string | Uint8Array | null): RequestParams {
  const get = parseQueryString(query ?? '')
  if (get.entries.size > 0 || body === undefined || body === null) return get
  return parseFormBody(body)
}
