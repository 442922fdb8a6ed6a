/**
 * Text from records (keys, headers, values, error messages that quote them) is hostile
 * input: printed as is, an ESC sequence, an 8-bit CSI or a bidi override could rewrite an
 * operator's screen. Everything printed from a record goes through one of these.
 */

/** C0 controls, DEL, C1 controls, line/paragraph separators, bidi embeddings and isolates, BOM. */
function isUnsafe(code: number): boolean {
  return (
    code <= 0x1f ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x2028 ||
    code === 0x2029 ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069) ||
    code === 0xfeff
  );
}

const SHORT_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x09, '\\t'],
  [0x0a, '\\n'],
  [0x0d, '\\r'],
]);

function escapeWhere(text: string, isEscaped: (code: number) => boolean): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isEscaped(code)) continue;
    out += text.slice(from, i) + (SHORT_ESCAPES.get(code) ?? `\\u${code.toString(16).padStart(4, '0')}`);
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** `text` with every unsafe character as a JSON-style escape (\n, \u001b, \u202e). */
export function escapeControls(text: string): string {
  return escapeWhere(text, isUnsafe);
}

/**
 * JSON text (one line or indented) that is safe on a terminal and still the same JSON.
 * JSON.stringify escapes C0 controls inside strings, so a raw one is layout (the newlines
 * of indented output) and stays; the others can only be inside strings and are escaped.
 */
export function terminalSafeJson(json: string): string {
  return escapeWhere(json, (code) => code > 0x1f && isUnsafe(code));
}
