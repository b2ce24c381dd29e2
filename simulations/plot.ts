// Line plots for the simulation reports: a PlotSpec becomes a vega-lite spec, rendered to SVG offline
// by vega's View.toSVG() (no canvas, no browser). One frozen table gives every series its colour.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { EdgesplitError } from '../shared/errors.ts';
import type { PlotSpec, Row } from './types.ts';

/**
 * The colour of every named series, the same in every plot of every report. Schemes of the planner
 * come first; the rest name what the theory and measurement plots draw.
 */
export const SERIES_COLOURS: Readonly<Record<string, string>> = Object.freeze({
  'joint': '#d62728',
  'on-device': '#1f77b4',
  'on-server': '#2ca02c',
  'split-only': '#ff7f0e',
  'grid': '#9467bd',
  'planned alone': '#8c564b',
  'planned alone, whole band': '#7f7f7f',
  'good channel': '#1f77b4',
  'poor channel': '#d62728',
  'measured': '#17becf',
  'measured, unstructured': '#17becf',
  'measured, structured': '#ff7f0e',
  'Lipschitz bound': '#7f7f7f',
  'Laplace closed form': '#bcbd22',
  'predicted': '#e377c2',
  'predicted from FLOPs': '#8c6d31',
  'mnist-mlp': '#1f77b4',
  'ppocr-rec': '#d62728',
  'mlp': '#2ca02c',
  'cnn': '#ff7f0e',
  'transformer': '#9467bd',
  'device FLOP share': '#3182bd',
  'pruning ratio': '#e6550d',
  'crossing tensor size': '#636363',
  'B = 5 MHz': '#fd8d3c',
  'B = 10 MHz': '#d62728',
  'B = 20 MHz': '#7b4173',
});

/** Colours of fixed splits ("fixed s=K"), by K modulo the table's length: earthy, never a scheme's colour. */
const FIXED_SPLIT_COLOURS: readonly string[] = Object.freeze(['#8c6d31', '#bd9e39', '#e7ba52', '#637939', '#8ca252', '#7b4173', '#a55194', '#5254a3']);

/** Colours for any other series, picked by a hash of the name so that a name keeps its colour. */
const OTHER_COLOURS: readonly string[] = Object.freeze(['#393b79', '#5254a3', '#6b6ecf', '#637939', '#8ca252', '#b5cf6b', '#843c39', '#d6616b']);

/** The colour of a series: the table's, a fixed split's, or a stable hash-picked one. */
export function seriesColour(series: string): string {
  const fixed = SERIES_COLOURS[series];
  if (fixed !== undefined) return fixed;
  const m = /^fixed s=(\d+)$/.exec(series);
  if (m) return FIXED_SPLIT_COLOURS[Number(m[1]) % FIXED_SPLIT_COLOURS.length]!;
  // Variants such as "predicted, ρ=0.5" or "mnist-mlp structured" take the colour of what precedes
  // the comma, or of their first word, when the table has one.
  const beforeComma = SERIES_COLOURS[series.split(', ')[0]!];
  if (beforeComma !== undefined) return beforeComma;
  const head = SERIES_COLOURS[series.split(' ')[0]!];
  if (head !== undefined) return head;
  let h = 0;
  for (let i = 0; i < series.length; i++) h = (Math.imul(h, 31) + series.charCodeAt(i)) >>> 0;
  return OTHER_COLOURS[h % OTHER_COLOURS.length]!;
}

/** Marker shapes of the schemes; any other series gets one by a hash of its name, so it keeps it across plots. */
const SCHEME_SHAPES: Readonly<Record<string, string>> = Object.freeze({
  'joint': 'circle', 'on-device': 'square', 'on-server': 'triangle-up', 'split-only': 'cross', 'grid': 'diamond', 'planned alone': 'square',
});
const OTHER_SHAPES: readonly string[] = Object.freeze(['circle', 'square', 'triangle-up', 'cross', 'diamond', 'triangle-down', 'triangle-left', 'triangle-right']);

/** The marker shape of a series, the same in every plot. */
export function seriesShape(series: string): string {
  const fixed = SCHEME_SHAPES[series];
  if (fixed !== undefined) return fixed;
  let h = 7;
  for (let i = 0; i < series.length; i++) h = (Math.imul(h, 131) + series.charCodeAt(i)) >>> 0;
  return OTHER_SHAPES[h % OTHER_SHAPES.length]!;
}

/** Plot area in pixels (the SVG adds axes, title and legend around it). */
export const PLOT_WIDTH_PX = 520;
export const PLOT_HEIGHT_PX = 300;

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** The rows a plot can draw: x and y present, and positive on a log axis. */
export function drawableRows(plot: PlotSpec): Row[] {
  return plot.rows.filter((r) => {
    const x = r[plot.x.field];
    const y = r[plot.y.field];
    if (!isNum(x) || !isNum(y)) return false;
    if (plot.x.scale === 'log' && x <= 0) return false;
    if (plot.y.scale === 'log' && y <= 0) return false;
    return true;
  });
}

/** The series of a plot with at least one drawable point, in order of first appearance. */
export function seriesOf(plot: PlotSpec): string[] {
  const seen: string[] = [];
  for (const r of drawableRows(plot)) {
    const s = String(r[plot.seriesField]);
    if (!seen.includes(s)) seen.push(s);
  }
  return seen;
}

function scaleOf(axis: PlotSpec['x'], isY: boolean): Record<string, unknown> {
  const type = axis.scale ?? 'linear';
  if (type === 'linear') return { type, zero: axis.zero ?? isY, nice: true };
  return { type };
}

const COLOUR_FIELD = '__colour';

/**
 * Break a title into lines of at most `width` characters at spaces. NOTE: without a canvas, vega
 * estimates text widths generously, and a long title or y-axis title would widen or heighten the
 * whole SVG; wrapping keeps every plot the same size.
 */
export function wrapTitle(text: string, width: number): string | string[] {
  if (text.length <= width) return text;
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** A five-pointed star (SVG path in the unit square) that marks optima; no series uses it. */
const STAR_PATH = 'M0,-1L0.2245,-0.309L0.951,-0.309L0.363,0.118L0.588,0.809L0,0.382L-0.588,0.809L-0.363,0.118L-0.951,-0.309L-0.2245,-0.309Z';

/** The vega-lite spec of a plot: lines with markers per series, bands, dashes and starred call-outs. */
export function toVegaLite(plot: PlotSpec): TopLevelSpec {
  const emphasis = new Set(plot.emphasis ?? []);
  const isEmphasised = (r: Row): boolean => emphasis.has(String(r[plot.seriesField]));
  // Emphasised series come last in the data, so their points are drawn on top.
  const rows: Row[] = [...drawableRows(plot).filter((r) => !isEmphasised(r)), ...drawableRows(plot).filter(isEmphasised)]
    .map((r) => ({ ...r, [COLOUR_FIELD]: seriesColour(String(r[plot.seriesField])) }));
  const series = seriesOf(plot);
  const colour = { field: plot.seriesField, type: 'nominal', title: null, scale: { domain: series, range: series.map(seriesColour) }, legend: { orient: 'right', labelLimit: 320 } };
  // NOTE: only the point layer has a colour scale and a legend (colour and shape merge into one);
  // the band and line layers read each row's colour from a field, so no second legend appears.
  const noLegend = { field: COLOUR_FIELD, type: 'nominal', scale: null, legend: null };
  const detail = { field: plot.seriesField, type: 'nominal' };
  const axisOf = (a: PlotSpec['x'], ticks: number): Record<string, unknown> => ({ grid: true, tickCount: ticks, ...(a.integer ? { tickMinStep: 1, format: 'd' } : {}) });
  const x = { field: plot.x.field, type: 'quantitative', title: wrapTitle(plot.x.title, 80), scale: scaleOf(plot.x, false), axis: axisOf(plot.x, 8) };
  const y = { field: plot.y.field, type: 'quantitative', title: wrapTitle(plot.y.title, 40), scale: scaleOf(plot.y, true), axis: axisOf(plot.y, 6) };
  const dashed = new Set(plot.dashed ?? []);
  const layers: unknown[] = [];
  if (plot.band) {
    const band = plot.band;
    const bandRows = rows.filter((r) => isNum(r[band.lo]) && isNum(r[band.hi]));
    layers.push({
      data: { values: bandRows },
      mark: { type: 'area', opacity: 0.18 },
      encoding: { x, y: { ...y, field: band.lo }, y2: { field: band.hi }, fill: noLegend, detail },
    });
  }
  if (plot.lines !== false) {
    layers.push({
      mark: { type: 'line', strokeWidth: 2 },
      encoding: {
        x, y, stroke: noLegend, detail,
        strokeDash: { field: plot.seriesField, type: 'nominal', scale: { domain: series, range: series.map((s) => (dashed.has(s) ? [6, 4] : [1, 0])) }, legend: colour.legend },
      },
    });
  }
  if (plot.lines !== false && emphasis.size > 0) {
    layers.push({
      transform: [{ filter: { field: plot.seriesField, oneOf: [...emphasis] } }],
      mark: { type: 'line', strokeWidth: 3.5 },
      encoding: { x, y, stroke: noLegend, detail },
    });
  }
  layers.push({
    mark: { type: 'point', filled: true, size: plot.lines === false ? 45 : 38, opacity: 0.9 },
    encoding: { x, y, color: colour, shape: { field: plot.seriesField, type: 'nominal', title: null, scale: { domain: series, range: series.map(seriesShape) }, legend: colour.legend } },
  });
  const markers = (plot.markers ?? []).filter((m) => isNum(m.x) && isNum(m.y));
  if (markers.length > 0) {
    const values = markers.map((m) => ({ mx: m.x, my: m.y, label: m.label, c: m.series === undefined ? '#000000' : seriesColour(m.series) }));
    const mx = { ...x, field: 'mx' };
    const my = { ...y, field: 'my' };
    layers.push({
      data: { values },
      mark: { type: 'point', shape: STAR_PATH, size: 320, filled: true, stroke: '#000000', strokeWidth: 1, opacity: 1 },
      encoding: { x: mx, y: my, fill: { field: 'c', type: 'nominal', scale: null, legend: null } },
    });
    layers.push({
      data: { values },
      mark: { type: 'text', align: 'left', dx: 9, dy: -9, fontSize: 11, fontWeight: 'bold' },
      encoding: { x: mx, y: my, text: { field: 'label' }, fill: { field: 'c', type: 'nominal', scale: null, legend: null } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: wrapTitle(plot.title, 62), fontSize: 14, anchor: 'start' },
    width: PLOT_WIDTH_PX,
    height: PLOT_HEIGHT_PX,
    background: 'white',
    data: { values: rows },
    layer: layers,
    resolve: { scale: { color: 'shared' } },
    config: { font: 'Helvetica, Arial, sans-serif', axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11 } },
  } as TopLevelSpec;
}

/** Render a plot to an SVG document (a string), offline. Throws ERR_INTERNAL when vega refuses the spec. */
export async function renderSvg(plot: PlotSpec): Promise<string> {
  try {
    const compiled = compile(toVegaLite(plot)).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    const svg = await view.toSVG();
    view.finalize();
    return svg;
  } catch (cause) {
    throw new EdgesplitError('ERR_INTERNAL', `plot '${plot.id}' ('${plot.title}') could not be rendered: ${(cause as Error).message}. The plot description is wrong; please report it with the scenario name.`, { cause });
  }
}
