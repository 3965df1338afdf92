/**
 * The few SVG primitives the timeline picture draws with, as strings: no DOM, no dependency, so
 * the renderer stays a pure function that runs in a test, a worker or the CLI alike.
 */
export const esc = (s: string | number): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Attributes with numbers rounded to 0.1 px: the files stay small and diff-able. */
function attrs(a: Record<string, string | number | undefined>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? Math.round(v * 10) / 10 : esc(v as string)}"`)
    .join('');
}

export const line = (x1: number, y1: number, x2: number, y2: number, a: Record<string, string | number | undefined> = {}) =>
  `<line${attrs({ x1, y1, x2, y2, ...a })}/>`;

export const rect = (x: number, y: number, width: number, height: number, a: Record<string, string | number | undefined> = {}) =>
  `<rect${attrs({ x, y, width, height, ...a })}/>`;

export const text = (x: number, y: number, content: string, a: Record<string, string | number | undefined> = {}) =>
  `<text${attrs({ x, y, ...a })}>${esc(content)}</text>`;

/** Text made of differently styled runs on one baseline (e.g. a time, then a red ✗). */
export const spans = (x: number, y: number, runs: Array<[string, Record<string, string | number | undefined>?]>, a: Record<string, string | number | undefined> = {}) =>
  `<text${attrs({ x, y, ...a })}>${runs.map(([s, ra]) => (ra ? `<tspan${attrs(ra)}>${esc(s)}</tspan>` : esc(s))).join('')}</text>`;

export const polygon = (points: Array<[number, number]>, a: Record<string, string | number | undefined> = {}) =>
  `<polygon${attrs({ points: points.map(([x, y]) => `${Math.round(x * 10) / 10},${Math.round(y * 10) / 10}`).join(' '), ...a })}/>`;

export const title = (s: string) => `<title>${esc(s)}</title>`;

/** A group with a tooltip: hovering any part of a packet shows its full header. */
export const group = (children: string[], tooltip?: string, a: Record<string, string | number | undefined> = {}) =>
  `<g${attrs(a)}>${tooltip ? title(tooltip) : ''}${children.join('')}</g>`;

/** A red ✕ drawn with two strokes (glyphs differ between fonts; strokes do not). */
export const cross = (x: number, y: number, r: number, colour: string) =>
  line(x - r, y - r, x + r, y + r, { stroke: colour, 'stroke-width': 2.2 }) + line(x - r, y + r, x + r, y - r, { stroke: colour, 'stroke-width': 2.2 });

export const diamond = (x: number, y: number, r: number, a: Record<string, string | number | undefined>) =>
  polygon(
    [
      [x, y - r],
      [x + r, y],
      [x, y + r],
      [x - r, y],
    ],
    a,
  );

/** DejaVu Sans Mono's advance is 0.602 em: with a monospace font a label's width is known without a DOM. */
export const textWidth = (s: string, fontSize: number) => [...s].length * fontSize * 0.602;

/**
 * A white box behind a label that may sit on a line (a close or fault line crossing a timer state,
 * the model's close crossing an arrow's label): the outline halo alone leaves the line showing
 * between the glyphs.
 */
export function backdrop(x: number, y: number, content: string, fontSize: number, anchor: 'start' | 'middle' | 'end' = 'start'): string {
  const w = textWidth(content, fontSize) + 4;
  const x0 = anchor === 'start' ? x - 2 : anchor === 'end' ? x - w + 2 : x - w / 2;
  return rect(x0, y - fontSize * 0.8, w, fontSize * 1.05, { fill: '#fff', 'fill-opacity': 0.9 });
}
