// Scenario 7: several devices sharing one server and one band. Total distortion against the number of
// devices: the joint mixed-integer plan beside each device planned alone (with an equal share of
// band and server, and with the whole of both, which may not fit).
import { planMultiEqualShare, planMultiIlp, planMultiIndependent, type MultiResult } from '../../planner/optimize/multi.ts';
import type { PlanningProblem } from '../../planner/optimize/problem.ts';
import { Rng } from '../../planner/util/rng.ts';
import { dbToGain, modelData, problemFor } from '../problems.ts';
import { sig, times } from '../format.ts';
import type { Scenario } from '../scenario.ts';
import type { Row } from '../types.ts';

export type MultiDeviceConfig = {
  model: string;
  levels: number[];
  /** Device profiles, assigned to the devices in turn. */
  devices: string[];
  channel: string;
  server: string;
  latencyBudgetMs: number;
  energyBudgetJ: number;
  /** Each device's path loss is drawn uniformly from this range [dB] (seeded). */
  pathLossRangeDb: number[];
  /** The band all devices share [MHz]. */
  sharedBandwidthMHz: number;
  /** Server compute time per period, shared by the devices (each runs one inference per period) [ms]. */
  serverPeriodMs: number;
  deviceCounts: number[];
  /**
   * Cut points considered per device: 0 for every cut of the model; otherwise the ends, this many of
   * the cuts that send less than the input, and as many spread over the rest.
   */
  cutsPerKind: number;
};

const SCHEMES = ['joint', 'planned alone', 'planned alone, whole band'] as const;

/**
 * The problem on a subset of cuts: both ends, `k` of the cuts that send less than the input and `k`
 * spread over the model; every cut when `k` is 0. NOTE: the candidates are cheap for every cut (the
 * PP-OCR recogniser's 307 take 0.02-0.35 s per device), but javascript-lp-solver's branch and bound
 * grows erratically with the candidates: over all 307 cuts, 8 devices took more than 9 minutes, and
 * over 60 of each kind (91 cuts) 12 devices took 98 s. With 24 of each kind (48 cuts) every device
 * count solves within a second, and the totals equal those over 91 cuts.
 */
export function subsetCuts(problem: PlanningProblem, k: number): PlanningProblem {
  if (k === 0) return problem;
  const last = problem.cuts.length - 1;
  const input = problem.cuts[0]!.crossingBytes;
  const small = problem.cuts.map((_, i) => i).filter((i) => i > 0 && i < last && problem.cuts[i]!.crossingBytes < input);
  const pick = new Set<number>([0, last]);
  for (let j = 0; j < k && small.length > 0; j++) pick.add(small[Math.round((j * (small.length - 1)) / Math.max(1, k - 1))]!);
  for (let j = 1; j < k; j++) pick.add(Math.round((j * last) / k));
  return { ...problem, cuts: [...pick].sort((a, b) => a - b).map((i) => problem.cuts[i]!) };
}

function cells(r: MultiResult, n: number, period: number, band: number): Row {
  const offloading = r.assignments.filter((a) => a.breakdown.crossingBytes > 0).length;
  return {
    feasible: r.feasible ? 1 : 0,
    fitsSharedCapacity: r.feasible && !r.violatesSharedCapacity ? 1 : 0,
    totalDistortion: r.feasible ? r.totalDistortion : null,
    meanDistortion: r.feasible ? r.totalDistortion / n : null,
    bandUsedPct: r.feasible ? (r.bandwidthUsedHz / band) * 100 : null,
    serverUsedPct: r.feasible ? (r.serverUsedS / period) * 100 : null,
    offloadingDevices: r.feasible ? offloading : null,
  };
}

export const multiDeviceScenario: Scenario<MultiDeviceConfig> = {
  name: 'multi-device',
  number: 7,
  title: 'Several devices sharing a server and a band',
  question: 'When several devices share one server and one band, how much does planning them together save over planning each alone?',
  columns: [
    { name: 'model', type: 'string', description: 'zoo model id every device runs' },
    { name: 'devices', type: 'number', description: 'number of devices sharing the server and the band' },
    { name: 'scheme', type: 'string', description: 'joint (one mixed-integer program for all devices), planned alone (each device with an equal share of band and server), planned alone, whole band (each device as if alone; may not fit)' },
    { name: 'feasible', type: 'number', description: '1 when every device has a plan under its own budgets' },
    { name: 'fitsSharedCapacity', type: 'number', description: '1 when the plans together fit in the band and the server period' },
    { name: 'totalDistortion', type: 'number', description: 'sum of the devices\' distortion bounds' },
    { name: 'meanDistortion', type: 'number', description: 'total distortion / devices' },
    { name: 'bandUsedPct', type: 'number', description: 'share of the band the plans need [%]' },
    { name: 'serverUsedPct', type: 'number', description: 'share of the server period the plans need [%]' },
    { name: 'offloadingDevices', type: 'number', description: 'devices that send anything to the server' },
  ],
  defaults: (quick) => ({
    model: 'ppocr-rec', levels: quick ? [0.5] : [0.125, 0.25, 0.375, 0.5, 0.625, 0.75],
    devices: ['rpi4', 'rpi5', 'jetson-orin-nano'], channel: 'lte', server: 'desktop', latencyBudgetMs: 300, energyBudgetJ: 0.05,
    pathLossRangeDb: [-125, -105], sharedBandwidthMHz: 20, serverPeriodMs: 30,
    deviceCounts: quick ? [1, 4] : [1, 2, 3, 4, 5, 6, 7, 8, 10, 12], cutsPerKind: quick ? 3 : 24,
  }),
  async simulate(config, ctx) {
    const data = await modelData(config.model, config.levels);
    const rng = new Rng(ctx.seed);
    const nMax = Math.max(...config.deviceCounts);
    const [lo, hi] = [Math.min(...config.pathLossRangeDb), Math.max(...config.pathLossRangeDb)];
    const band = config.sharedBandwidthMHz * 1e6;
    const period = config.serverPeriodMs / 1000;
    const fleet = Array.from({ length: nMax }, (_, i) => subsetCuts(problemFor(data, {
      device: config.devices[i % config.devices.length]!, channel: config.channel, server: config.server,
      latencyS: config.latencyBudgetMs / 1000, energyJ: config.energyBudgetJ, pathLoss: dbToGain(rng.uniform(lo, hi)), bandwidthHz: band,
    }), config.cutsPerKind));
    const rows: Row[] = [];
    ctx.progress.start('multi-device', config.deviceCounts.length);
    for (const n of config.deviceCounts) {
      // The real pruning levels are the candidates' ratios (the ILP picks among them).
      const mp = { devices: fleet.slice(0, n), bandwidthHz: band, serverPeriodS: period, levels: [0, ...config.levels] };
      const results = [planMultiIlp(mp), planMultiEqualShare(mp), planMultiIndependent(mp)];
      results.forEach((r, k) => rows.push({ model: config.model, devices: n, scheme: SCHEMES[k]!, ...cells(r, n, period, band) }));
      ctx.progress.tick();
    }
    return rows;
  },
  present(rows, config) {
    const at = (scheme: string, n: number): Row | undefined => rows.find((r) => r.scheme === scheme && r.devices === n);
    const ns = [...new Set(rows.map((r) => r.devices as number))].sort((a, b) => a - b);
    const plotted = rows.map((r) => (r.fitsSharedCapacity === 1 ? r : { ...r, totalDistortion: null }));
    const overflow = ns.find((n) => at('planned alone, whole band', n)?.feasible === 1 && at('planned alone, whole band', n)?.fitsSharedCapacity === 0);
    const jointLimit = ns.find((n) => at('joint', n)?.feasible !== 1);
    let gain: { n: number; j: number; a: number } | undefined;
    for (const n of ns) {
      const j = at('joint', n);
      const a = at('planned alone', n);
      if (j?.feasible !== 1 || a?.feasible !== 1) continue;
      const diff = (a.totalDistortion as number) - (j.totalDistortion as number);
      if (!gain || diff > gain.a - gain.j) gain = { n, j: j.totalDistortion as number, a: a.totalDistortion as number };
    }
    const firstLoss = ns.find((n) => at('joint', n)?.feasible === 1 && (at('joint', n)!.totalDistortion as number) > 0);
    const setting = `${rows[0]?.model} on ${config.devices.join(', ')} in turn, path losses drawn from ${sig(Math.min(...config.pathLossRangeDb))} to ${sig(Math.max(...config.pathLossRangeDb))} dB, a ${sig(config.sharedBandwidthMHz)} MHz shared band and ${sig(config.serverPeriodMs)} ms of server time per period; each device has ${sig(config.latencyBudgetMs)} ms and ${sig(config.energyBudgetJ)} J`;
    return {
      figures: [
        {
          plot: {
            id: 'distortion', title: 'Total distortion bound against the number of devices',
            x: { field: 'devices', title: 'devices sharing the server and the band', integer: true }, y: { field: 'totalDistortion', title: 'total distortion bound Σ Γ·D(ρ)' },
            seriesField: 'scheme', rows: plotted, emphasis: ['joint'], dashed: ['planned alone, whole band'],
          },
          paragraph: `Setting: ${setting}. ${firstLoss === undefined ? 'The joint plan keeps every device unpruned at every count.' : `The joint plan keeps every device unpruned up to ${ns[ns.indexOf(firstLoss) - 1] ?? 0} devices and starts pruning at ${firstLoss}.`} ${gain && gain.a > gain.j ? `Its largest saving over planning each device alone with an equal share is at ${gain.n} devices: ${sig(gain.j)} against ${sig(gain.a)} (${gain.j === 0 ? 'no distortion at all' : `${times(gain.a, gain.j)} lower`}).` : 'It never beats planning each device alone here.'} ${overflow === undefined ? 'Planned as if alone, the devices always fit together.' : `Planned as if alone, the devices no longer fit from ${overflow} devices (the dashed line stops): they need more band or server time than there is.`}${jointLimit === undefined ? '' : ` From ${jointLimit} devices not even the joint plan meets every budget.`}`,
        },
        {
          plot: {
            id: 'resources', title: 'Server time the plans need',
            x: { field: 'devices', title: 'devices sharing the server and the band', integer: true }, y: { field: 'serverUsedPct', title: 'share of the server period [%]' },
            seriesField: 'scheme', rows, emphasis: ['joint'], dashed: ['planned alone, whole band'],
          },
          paragraph: `Above 100% a plan does not fit. The joint plan fills the server up to the period and then moves work to the devices (pruning it to fit their budgets); planned alone, each device assumes the whole server. Devices offloading in the joint plan: ${ns.map((n) => `${at('joint', n)?.offloadingDevices ?? '-'} of ${n}`).join(', ')}.`,
        },
      ],
    };
  },
};
