// The shapes every simulation shares: rows of a CSV, typed columns, plot descriptions and what a
// scenario hands back. Plots and paragraphs are built from the rows alone, so a report can be rebuilt.

/** One value of a CSV cell; null is written as an empty cell (an infeasible or missing figure). */
export type Cell = number | string | null;

/** One point of a study: one row of its CSV. */
export type Row = Record<string, Cell>;

/** One column of a scenario's CSV: its name, type, and what it holds (with its unit). */
export interface Column {
  name: string;
  type: 'number' | 'string';
  /** What the column holds, with its unit; listed in the report. */
  description: string;
}

/** How an axis maps values: linear, logarithmic, or symmetric-log (log-like, but 0 is allowed). */
export type AxisScale = 'linear' | 'log' | 'symlog';

/** One axis of a plot: the row field it reads and its title, which carries the unit. */
export interface Axis {
  field: string;
  /** Axis title with its unit in brackets, e.g. "latency budget [ms]". */
  title: string;
  scale?: AxisScale;
  /** Include zero in a linear axis (default true for y, false for x). */
  zero?: boolean;
  /** Whole numbers only (cut indices, device counts): ticks at integers. */
  integer?: boolean;
}

/** A point called out on a plot (an optimum, a crossover), drawn as a star with a label. */
export interface Marker {
  x: number;
  y: number;
  label: string;
  /** The series whose colour the marker takes; omitted: black. */
  series?: string;
}

/** A line plot with one line per series, markers on every point, optional bands and call-outs. */
export interface PlotSpec {
  /** File-name-safe id, unique within the scenario; the SVG is `<scenario>-<id>.svg`. */
  id: string;
  title: string;
  x: Axis;
  y: Axis;
  /** Field naming the series of each row (a scheme such as "joint" or "on-device"). */
  seriesField: string;
  /** The rows to draw; rows with a null x or y are left out (infeasible points). */
  rows: Row[];
  /** Fields with the lower and upper edge of an error band per row (e.g. a spread over fading draws). */
  band?: { lo: string; hi: string };
  markers?: Marker[];
  /** Draw lines between points (default) or points alone (scatter). */
  lines?: boolean;
  /** Draw each series with a dashed line when its name is in this list (e.g. bounds and predictions). */
  dashed?: string[];
  /** Series drawn last and thicker, on top of the others (the scheme the plot is about). */
  emphasis?: string[];
}

/** What a scenario's presentation gives the report: plots, each followed by a paragraph that reads it. */
export interface Figure {
  plot: PlotSpec;
  /** One short paragraph, computed from the rows, that says what the plot shows. */
  paragraph: string;
}

/** Everything the report holds for one scenario. */
export interface Presentation {
  figures: Figure[];
  /** A closing paragraph on the scenario as a whole (optional). */
  summary?: string;
}

/** What one run of a scenario hands back. */
export interface ScenarioResult extends Presentation {
  rows: Row[];
}
