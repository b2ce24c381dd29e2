// Scenarios 1 and 2: the distortion bound against the latency budget and against the device's energy
// budget, for the joint design beside fully on-device, fully on-server, split-only and fixed splits,
// on a real model's cuts (PP-OCR recogniser by default) with real pruned levels.
import { dbToGain, modelData, problemFor, type Setting } from '../problems.ts';
import { cutNearShare, SCHEME_COLUMNS, solveSchemes } from '../schemes.ts';
import { sig, times } from '../format.ts';
import type { Scenario } from '../scenario.ts';
import type { Column, Presentation, Row } from '../types.ts';

/** Knobs shared by both budget sweeps. */
type Common = {
  model: string;
  /** Real structured-pruning levels (0 is added); ratios in between are interpolated. */
  levels: number[];
  device: string;
  channel: string;
  server: string;
  /** Path loss of the uplink [dB], e.g. -110. */
  pathLossDb: number;
  /** Fixed splits to compare, as the share of the model's FLOPs on the device (the nearest cut is taken). */
  fixedSplitFlopShares: number[];
  /** Points per axis of the exhaustive grid search drawn as a reference (0: leave it out). */
  gridSteps: number;
};

export type LatencySweepConfig = Common & { latencyBudgetsMs: number[]; energyBudgetJ: number };
export type EnergySweepConfig = Common & { energyBudgetsJ: number[]; latencyBudgetMs: number };

const SETTING_COLUMNS: Column[] = [
  { name: 'model', type: 'string', description: 'zoo model id' },
  { name: 'latencyBudgetMs', type: 'number', description: 'latency budget T_max [ms]' },
  { name: 'energyBudgetJ', type: 'number', description: 'device energy budget E_max per inference [J]' },
  { name: 'gamma', type: 'number', description: 'Gamma of the bound Gamma * D (1 when the model is not a chain)' },
];

const COMMON_DEFAULTS = (quick: boolean): Common => ({
  model: 'ppocr-rec', levels: quick ? [0.5] : [0.125, 0.25, 0.375, 0.5, 0.625, 0.75], device: 'rpi4', channel: 'lte', server: 'desktop', pathLossDb: -110,
  fixedSplitFlopShares: [0.25, 0.5, 0.93], gridSteps: quick ? 5 : 11,
});

/** The order in which schemes are drawn and described. */
const ORDER = ['joint', 'on-device', 'on-server', 'split-only', 'grid'];

function where(cutIndex: number, cuts: number): string {
  if (cutIndex === 0) return 'sends the input to the server';
  if (cutIndex === cuts - 1) return 'runs everything on the device';
  return `splits at cut ${cutIndex}`;
}

/**
 * The paragraph under a budget sweep, computed from its rows: where each scheme becomes feasible,
 * what the joint design chooses, and its largest gain over the best baseline.
 */
export function readSweep(rows: readonly Row[], xField: string, unit: string, cutCount: number): string {
  const xs = [...new Set(rows.map((r) => r[xField] as number))].sort((a, b) => a - b);
  const schemes = [...new Set(rows.map((r) => String(r.scheme)))];
  const at = (scheme: string, x: number): Row | undefined => rows.find((r) => r.scheme === scheme && r[xField] === x);
  const fx = (x: number): string => `${sig(x)} ${unit}`;
  const parts: string[] = [];
  const firstJoint = xs.find((x) => at('joint', x)?.feasible === 1);
  if (firstJoint === undefined) return `No scheme meets the budgets anywhere from ${fx(xs[0]!)} to ${fx(xs[xs.length - 1]!)}.`;
  const j0 = at('joint', firstJoint)!;
  parts.push(`The joint design meets the budgets from ${fx(firstJoint)} on, with a bound of ${sig(j0.distortion as number)} (it ${where(j0.cutIndex as number, cutCount)}, pruned to ratio ${sig(j0.ratio as number)})`);
  const starts = schemes.filter((s) => s !== 'joint').map((s) => {
    const x = xs.find((v) => at(s, v)?.feasible === 1);
    return x === undefined ? `${s} never does` : `${s} from ${fx(x)}`;
  });
  parts.push(`the baselines become feasible as follows: ${starts.join(', ')}`);
  const zero = xs.find((x) => at('joint', x)?.feasible === 1 && (at('joint', x)!.distortion as number) === 0);
  if (zero !== undefined) parts.push(`from ${fx(zero)} the joint design needs no pruning at all (it ${where(at('joint', zero)!.cutIndex as number, cutCount)})`);
  let gain: { x: number; joint: number; best: number; scheme: string } | undefined;
  let lone: { x: number } | undefined;
  for (const x of xs) {
    const j = at('joint', x);
    if (j?.feasible !== 1) continue;
    const others = schemes.filter((s) => s !== 'joint' && s !== 'grid').map((s) => at(s, x)).filter((r): r is Row => r?.feasible === 1);
    if (others.length === 0) {
      if (!lone) lone = { x };
      continue;
    }
    const best = others.reduce((a, b) => ((b.distortion as number) < (a.distortion as number) ? b : a));
    const ratio = (best.distortion as number) / Math.max(j.distortion as number, 1e-12);
    if ((best.distortion as number) > (j.distortion as number) && (!gain || ratio > gain.best / Math.max(gain.joint, 1e-12))) gain = { x, joint: j.distortion as number, best: best.distortion as number, scheme: String(best.scheme) };
  }
  if (lone) parts.push(`at ${fx(lone.x)} it is the only scheme that meets the budgets`);
  if (gain) parts.push(`its largest gain over the best baseline is at ${fx(gain.x)}: ${sig(gain.joint)} against ${sig(gain.best)} for ${gain.scheme} (${gain.joint === 0 ? 'no distortion at all' : `${times(gain.best, gain.joint)} lower`})`);
  else parts.push('wherever a baseline is feasible the joint design matches the best of them: here the best plan always sits at one end of the model');
  return `${parts.join('; ')}.`;
}

function sweepPresentation(rows: Row[], xField: string, xTitle: string, unit: string, title: string, fixedLabel: string, xScale: 'linear' | 'log'): Presentation {
  const model = String(rows[0]?.model ?? '');
  const gamma = rows[0]?.gamma as number;
  const cutCount = Math.max(0, ...rows.map((r) => (r.cutIndex as number | null) ?? 0)) + 1;
  const sorted = [...rows].sort((a, b) => {
    const ka = ORDER.indexOf(String(a.scheme));
    const kb = ORDER.indexOf(String(b.scheme));
    return (ka < 0 ? 99 : ka) - (kb < 0 ? 99 : kb);
  });
  const feasible = sorted.filter((r) => r.feasible === 1);
  const joint = feasible.filter((r) => r.scheme === 'joint');
  const yTitle = gamma === 1 ? 'distortion bound Γ·D(ρ) (Γ = 1)' : `distortion bound Γ·D(ρ) (Γ = ${sig(gamma)})`;
  return {
    figures: [
      {
        plot: {
          id: 'distortion', title: `${model}: ${title}`,
          x: { field: xField, title: xTitle, scale: xScale }, y: { field: 'distortion', title: yTitle },
          seriesField: 'scheme', rows: sorted, dashed: ['split-only', 'grid'], emphasis: ['joint'],
        },
        paragraph: readSweep(rows, xField, unit, cutCount),
      },
      {
        plot: {
          id: 'split', title: `${model}: where the joint design splits and how much it prunes`,
          x: { field: xField, title: xTitle, scale: xScale }, y: { field: 'value', title: 'share [%]' },
          seriesField: 'series',
          rows: joint.flatMap((r): Row[] => [
            { [xField]: r[xField] ?? null, series: 'device FLOP share', value: r.headFlopSharePct ?? null },
            { [xField]: r[xField] ?? null, series: 'pruning ratio', value: (r.ratio as number) * 100 },
          ]),
        },
        paragraph: `The joint design's choices behind the red curve above: the share of the unpruned model's FLOPs it runs on the device (0% = everything on the server, 100% = everything on the device) and the pruning ratio, per ${fixedLabel}. ${readChoices(joint, xField, unit)}`,
      },
    ],
  };
}

function readChoices(joint: Row[], xField: string, unit: string): string {
  if (joint.length === 0) return 'It is infeasible everywhere.';
  const segments: string[] = [];
  let start = joint[0]!;
  for (let i = 1; i <= joint.length; i++) {
    const r = joint[i];
    if (!r || r.cutIndex !== start.cutIndex) {
      const end = joint[i - 1]!;
      segments.push(`${sig(start[xField] as number)}${end === start ? '' : `-${sig(end[xField] as number)}`} ${unit}: ${sig(start.headFlopSharePct as number)}% on the device (cut ${start.cutIndex})`);
      if (r) start = r;
    }
  }
  return `By budget: ${segments.join('; ')}.`;
}

function settingOf(c: Common, latencyS: number, energyJ: number): Setting {
  return { device: c.device, channel: c.channel, server: c.server, latencyS, energyJ, pathLoss: dbToGain(c.pathLossDb) };
}

export const latencyBudgetScenario: Scenario<LatencySweepConfig> = {
  name: 'latency-budget',
  number: 1,
  title: 'Distortion bound against the latency budget',
  question: 'Given a deadline per inference, how much distortion must pruning add, and which scheme gets the least?',
  columns: [...SETTING_COLUMNS, ...SCHEME_COLUMNS],
  defaults: (quick) => ({
    ...COMMON_DEFAULTS(quick),
    latencyBudgetsMs: quick ? [40, 80, 160] : [30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 90, 100, 110, 120, 140, 160, 200],
    energyBudgetJ: 0.3,
  }),
  async simulate(config, ctx) {
    const data = await modelData(config.model, config.levels);
    ctx.progress.start('latency budget', config.latencyBudgetsMs.length);
    const rows: Row[] = [];
    for (const ms of config.latencyBudgetsMs) {
      const problem = problemFor(data, settingOf(config, ms / 1000, config.energyBudgetJ));
      const fixedCuts = [...new Set(config.fixedSplitFlopShares.map((s) => cutNearShare(problem, s)))];
      for (const cells of solveSchemes(problem, { fixedCuts, gridSteps: config.gridSteps })) {
        rows.push({ model: config.model, latencyBudgetMs: ms, energyBudgetJ: config.energyBudgetJ, gamma: data.gamma, ...cells });
      }
      ctx.progress.tick();
    }
    return rows;
  },
  present: (rows) => sweepPresentation(rows, 'latencyBudgetMs', 'latency budget T_max [ms]', 'ms', 'distortion bound against the latency budget', 'latency budget', 'linear'),
};

export const energyBudgetScenario: Scenario<EnergySweepConfig> = {
  name: 'energy-budget',
  number: 2,
  title: 'Distortion bound against the device energy budget',
  question: 'Given a battery budget per inference, how much distortion must pruning add, and which scheme gets the least?',
  columns: [...SETTING_COLUMNS, ...SCHEME_COLUMNS],
  defaults: (quick) => ({
    ...COMMON_DEFAULTS(quick),
    pathLossDb: -125,
    energyBudgetsJ: quick ? [0.03, 0.05, 0.2] : [0.03, 0.035, 0.04, 0.045, 0.05, 0.06, 0.075, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5],
    latencyBudgetMs: 400,
  }),
  async simulate(config, ctx) {
    const data = await modelData(config.model, config.levels);
    ctx.progress.start('energy budget', config.energyBudgetsJ.length);
    const rows: Row[] = [];
    for (const j of config.energyBudgetsJ) {
      const problem = problemFor(data, settingOf(config, config.latencyBudgetMs / 1000, j));
      const fixedCuts = [...new Set(config.fixedSplitFlopShares.map((s) => cutNearShare(problem, s)))];
      for (const cells of solveSchemes(problem, { fixedCuts, gridSteps: config.gridSteps })) {
        rows.push({ model: config.model, latencyBudgetMs: config.latencyBudgetMs, energyBudgetJ: j, gamma: data.gamma, ...cells });
      }
      ctx.progress.tick();
    }
    return rows;
  },
  present: (rows) => sweepPresentation(rows, 'energyBudgetJ', 'device energy budget E_max [J] (log scale)', 'J', 'distortion bound against the device energy budget', 'energy budget', 'log'),
};

