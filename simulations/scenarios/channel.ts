// Scenario 4: the channel. Bandwidth and path loss swept, Rayleigh fading drawn many times (seeded)
// and the plan remade for each draw: the mean distortion bound with its spread, where the best split
// moves, and the path loss beyond which offloading stops paying.
import { onDevice, onServer, optimize } from '../../planner/optimize/optimizer.ts';
import { Rng } from '../../planner/util/rng.ts';
import { dbToGain, headFlopShare, modelData, problemFor } from '../problems.ts';
import { percent, quantile, sig } from '../format.ts';
import type { Scenario } from '../scenario.ts';
import type { Row } from '../types.ts';

export type ChannelConfig = {
  model: string;
  levels: number[];
  device: string;
  channel: string;
  server: string;
  latencyBudgetMs: number;
  energyBudgetJ: number;
  /** Mean path losses swept [dB]. */
  pathLossesDb: number[];
  /** Bandwidths swept [MHz]. */
  bandwidthsMHz: number[];
  /** Rayleigh fading draws per point (the plan is remade for each draw, as a planner that knows the channel would). */
  draws: number;
};

function bandwidthLabel(mhz: number): string {
  return `B = ${sig(mhz)} MHz`;
}

export const channelScenario: Scenario<ChannelConfig> = {
  name: 'channel',
  number: 4,
  title: 'The channel: bandwidth, path loss and Rayleigh fading',
  question: 'As the uplink gets worse, where does the best split move, and when does offloading stop paying?',
  columns: [
    { name: 'model', type: 'string', description: 'zoo model id' },
    { name: 'scheme', type: 'string', description: 'joint, on-device or on-server' },
    { name: 'bandwidthMHz', type: 'number', description: 'uplink bandwidth [MHz]' },
    { name: 'series', type: 'string', description: 'plot series: the bandwidth for the joint design, else the scheme' },
    { name: 'pathLossDb', type: 'number', description: 'mean path loss [dB]; each draw multiplies it by a Rayleigh power gain (exponential, mean 1)' },
    { name: 'draws', type: 'number', description: 'fading draws' },
    { name: 'feasibleSharePct', type: 'number', description: 'share of draws with a plan that meets the budgets [%]' },
    { name: 'meanDistortion', type: 'number', description: 'mean distortion bound over the feasible draws' },
    { name: 'p10Distortion', type: 'number', description: '10th percentile of the distortion bound over the feasible draws' },
    { name: 'p90Distortion', type: 'number', description: '90th percentile of the distortion bound over the feasible draws' },
    { name: 'offloadSharePct', type: 'number', description: 'share of feasible draws in which the plan sends anything to the server (s < L) [%]' },
    { name: 'meanHeadFlopSharePct', type: 'number', description: 'mean share of the FLOPs run on the device at the chosen split [%]' },
  ],
  defaults: (quick) => ({
    model: 'ppocr-rec', levels: quick ? [0.5] : [0.125, 0.25, 0.375, 0.5, 0.625, 0.75],
    device: 'rpi4', channel: 'lte', server: 'desktop', latencyBudgetMs: 300, energyBudgetJ: 0.05,
    pathLossesDb: quick ? [-105, -125] : [-100, -104, -108, -112, -116, -118, -120, -122, -124, -126, -128, -132],
    bandwidthsMHz: quick ? [10] : [5, 10, 20],
    draws: quick ? 6 : 60,
  }),
  async simulate(config, ctx) {
    const data = await modelData(config.model, config.levels);
    const rows: Row[] = [];
    ctx.progress.start('channel', config.bandwidthsMHz.length * config.pathLossesDb.length);
    for (const mhz of config.bandwidthsMHz) {
      for (const pl of config.pathLossesDb) {
        // NOTE: one generator per point, seeded by the study seed and the point, so that a point's
        // draws do not depend on which other points the configuration lists.
        const rng = new Rng(ctx.seed * 1_000_003 + Math.round(mhz * 1000) * 7919 + Math.round(-pl * 100));
        const per: Record<'joint' | 'on-device' | 'on-server', Array<{ d: number; offload: boolean; share: number } | null>> = { 'joint': [], 'on-device': [], 'on-server': [] };
        for (let k = 0; k < config.draws; k++) {
          const problem = problemFor(data, {
            device: config.device, channel: config.channel, server: config.server, latencyS: config.latencyBudgetMs / 1000, energyJ: config.energyBudgetJ,
            pathLoss: dbToGain(pl), bandwidthHz: mhz * 1e6, fadingGain: rng.exponential(),
          });
          const last = problem.cuts.length - 1;
          for (const [name, r] of [['joint', optimize(problem)], ['on-device', onDevice(problem)], ['on-server', onServer(problem)]] as const) {
            per[name].push(r.feasible ? { d: r.distortion, offload: r.decision.cutIndex < last, share: headFlopShare(problem, r.decision.cutIndex) } : null);
          }
        }
        for (const name of ['joint', 'on-device', 'on-server'] as const) {
          const ok = per[name].filter((x): x is { d: number; offload: boolean; share: number } => x !== null);
          const ds = ok.map((x) => x.d).sort((a, b) => a - b);
          rows.push({
            model: config.model, scheme: name, bandwidthMHz: mhz, series: name === 'joint' ? bandwidthLabel(mhz) : `${name}, ${bandwidthLabel(mhz)}`, pathLossDb: pl, draws: config.draws,
            feasibleSharePct: (ok.length / config.draws) * 100,
            meanDistortion: ok.length > 0 ? ds.reduce((a, b) => a + b, 0) / ds.length : null,
            p10Distortion: ok.length > 0 ? quantile(ds, 0.1) : null,
            p90Distortion: ok.length > 0 ? quantile(ds, 0.9) : null,
            offloadSharePct: ok.length > 0 ? (ok.filter((x) => x.offload).length / ok.length) * 100 : null,
            meanHeadFlopSharePct: ok.length > 0 ? (ok.reduce((a, x) => a + x.share, 0) / ok.length) * 100 : null,
          });
        }
        ctx.progress.tick();
      }
    }
    return rows;
  },
  present(rows, config) {
    const joint = rows.filter((r) => r.scheme === 'joint');
    const model = String(rows[0]?.model ?? '');
    const draws = rows[0]?.draws as number;
    const bws = [...new Set(joint.map((r) => r.bandwidthMHz as number))].sort((a, b) => a - b);
    const budgets = `${sig(config.latencyBudgetMs)} ms and ${sig(config.energyBudgetJ)} J budgets`;
    const stops = bws.map((b) => {
      const pts = joint.filter((r) => r.bandwidthMHz === b).sort((x, y) => (y.pathLossDb as number) - (x.pathLossDb as number));
      const lastPaying = pts.filter((r) => (r.offloadSharePct as number | null) !== null && (r.offloadSharePct as number) >= 50);
      const stop = pts.find((r) => (r.offloadSharePct as number | null) === null || (r.offloadSharePct as number) < 50);
      if (lastPaying.length === 0) return `at ${sig(b)} MHz offloading never wins most draws`;
      if (!stop) return `at ${sig(b)} MHz it offloads in most draws down to ${sig(pts[pts.length - 1]!.pathLossDb as number)} dB`;
      return `at ${sig(b)} MHz it offloads in most draws down to ${sig(lastPaying[lastPaying.length - 1]!.pathLossDb as number)} dB and stops by ${sig(stop.pathLossDb as number)} dB`;
    });
    const dev = rows.find((r) => r.scheme === 'on-device');
    const worst = joint.reduce<Row | undefined>((a, r) => (r.meanDistortion !== null && (!a || (r.meanDistortion as number) > (a.meanDistortion as number)) ? r : a), undefined);
    // The spread band is drawn for the middle bandwidth only: overlapping bands would hide each other.
    const banded = bws[Math.floor(bws.length / 2)];
    const distortionRows = [
      ...rows.filter((r) => r.scheme === 'on-device' && r.bandwidthMHz === bws[0]).map((r) => ({ ...r, series: 'on-device', p10Distortion: null, p90Distortion: null })),
      ...joint.map((r) => (r.bandwidthMHz === banded ? r : { ...r, p10Distortion: null, p90Distortion: null })),
    ];
    const serverStop = bws.map((b) => {
      const pts = rows.filter((r) => r.scheme === 'on-server' && r.bandwidthMHz === b).sort((x, y) => (y.pathLossDb as number) - (x.pathLossDb as number));
      const firstBad = pts.find((r) => (r.feasibleSharePct as number) < 90);
      return firstBad ? `${sig(b)} MHz from ${sig(firstBad.pathLossDb as number)} dB` : `${sig(b)} MHz nowhere in range`;
    });
    return {
      figures: [
        {
          plot: {
            id: 'distortion', title: `${model}: mean distortion bound against path loss (${draws} Rayleigh draws per point)`,
            x: { field: 'pathLossDb', title: 'mean path loss [dB]' }, y: { field: 'meanDistortion', title: 'mean distortion bound Γ·D(ρ) over feasible draws' },
            seriesField: 'series', rows: distortionRows, band: { lo: 'p10Distortion', hi: 'p90Distortion' }, dashed: ['on-device'],
          },
          paragraph: `Joint design per bandwidth (the band: 10th-90th percentile over the fading draws at ${sig(banded ?? 0)} MHz; it is wide where some draws offload and others cannot), beside fully on-device (which does not use the channel: ${dev && dev.meanDistortion !== null ? `bound ${sig(dev.meanDistortion as number)}` : 'infeasible'} under the ${budgets}). ${worst ? `The worst mean, ${sig(worst.meanDistortion as number)}, is at ${sig(worst.pathLossDb as number)} dB and ${sig(worst.bandwidthMHz as number)} MHz.` : ''} Fully on-server misses the budgets in more than 10% of the draws at ${serverStop.join(', ')}.`,
        },
        {
          plot: {
            id: 'offload', title: `${model}: share of draws in which the joint plan offloads`,
            x: { field: 'pathLossDb', title: 'mean path loss [dB]' }, y: { field: 'offloadSharePct', title: 'draws that send to the server [%]' },
            seriesField: 'series', rows: joint,
          },
          paragraph: `When offloading stops paying: ${stops.join('; ')}.`,
        },
        {
          plot: {
            id: 'split', title: `${model}: where the joint plan splits`,
            x: { field: 'pathLossDb', title: 'mean path loss [dB]' }, y: { field: 'meanHeadFlopSharePct', title: 'mean share of FLOPs on the device [%]' },
            seriesField: 'series', rows: joint,
          },
          paragraph: `The split moves from the server end (0% of the FLOPs on the device) to the device end (100%) as the channel worsens; values in between are the mean over draws, some offloading and some not, or late splits that send a small tensor. ${bws.map((b) => {
            const pts = joint.filter((r) => r.bandwidthMHz === b && r.meanHeadFlopSharePct !== null).sort((x, y) => (y.pathLossDb as number) - (x.pathLossDb as number));
            const half = pts.find((r) => (r.meanHeadFlopSharePct as number) >= 50);
            return half ? `At ${sig(b)} MHz the mean split first puts half of the FLOPs or more on the device at ${sig(half.pathLossDb as number)} dB (${percent((half.meanHeadFlopSharePct as number) / 100)}).` : `At ${sig(b)} MHz the mean split never puts half of the FLOPs on the device in this range.`;
          }).join(' ')}`.trim(),
        },
      ],
    };
  },
};
