/**
 * deadpeer's refusals are one line. A value echoed into one (an argument, a file name, what another
 * process said about itself) must not be able to start a second line, move the terminal's cursor
 * or bury the advice after it under a megabyte of its own text.
 */

/** Longest echoed value, in characters; a longer one is cut and says how long it was. */
export const SHOWN_MAX = 80;

/** Control characters (C0, DEL, C1) and the Unicode line/paragraph separators, escaped as JSON does. */
function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** A value as an echo in a one-line message: control characters escaped, a long one cut (no quotes added). */
export function shownRaw(value: unknown, max = SHOWN_MAX): string {
  const text = escapeControls(String(value));
  return text.length > max ? `${text.slice(0, max - 1)}… (${String(value).length} characters)` : text;
}

/** A value quoted for a one-line message: `"…"`, control characters escaped, a long one cut. */
export function shown(value: unknown, max = SHOWN_MAX): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const body = JSON.stringify(text).slice(1, -1).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return body.length > max ? `"${body.slice(0, max - 1)}…" (${text.length} characters)` : `"${body}"`;
}

/** Longest one-line message; anything past it is cut (a guard: echoed values are already cut to SHOWN_MAX when quoted). */
const LINE_MAX = 2000;

/**
 * A message as exactly one line, whatever its values held: control characters escaped, quoted
 * values longer than SHOWN_MAX cut (the words after them, which say what to do, are kept), the
 * whole capped. Applied where the CLI writes its refusals.
 */
export function oneLine(message: string): string {
  const escaped = escapeControls(message.replace(/\n+$/, ''));
  const cut = escaped.replace(/"((?:[^"\\]|\\.)*)"/g, (whole, body: string) =>
    body.length > SHOWN_MAX ? `"${body.slice(0, SHOWN_MAX - 1)}…" (${body.length} characters)` : whole,
  );
  return cut.length > LINE_MAX ? `${cut.slice(0, LINE_MAX - 1)}…` : cut;
}
