// Scenario 3: the split point. The best distortion bound the planner reaches at each cut of a real
// model, for a good and a poor channel, with the optimum marked; beside it, the bytes each cut sends.
import { optimize } from '../../planner/optimize/optimizer.ts';
import { dbToGain, headFlopShare, modelData, problemFor } from '../problems.ts';
import { sig } from '../format.ts';
import type { Scenario } from '../scenario.ts';
import type { Figure, Marker, Row } from '../types.ts';

export type SplitPointConfig = {
  models: string[];
  levels: number[];
  device: string;
  channel: string;
  server: string;
  /** Path loss of the good and the poor channel [dB]. */
  goodPathLossDb: number;
  poorPathLossDb: number;
  latencyBudgetMs: number;
  energyBudgetJ: number;
};

const QUALITIES = ['good channel', 'poor channel'] as const;

export const splitPointScenario: Scenario<SplitPointConfig> = {
  name: 'split-point',
  number: 3,
  title: 'The split point',
  question: 'Where should the model be cut, how much does the choice matter, and does the answer move with the channel?',
  columns: [
    { name: 'model', type: 'string', description: 'zoo model id' },
    { name: 'channelQuality', type: 'string', description: 'good channel or poor channel' },
    { name: 'pathLossDb', type: 'number', description: 'path loss of the uplink [dB]' },
    { name: 'cutIndex', type: 'number', description: 'split point s: cut index (0 = everything on the server, last = everything on the device)' },
    { name: 'cutId', type: 'string', description: 'cut id as edgesplit inspect names it (p<position>)' },
    { name: 'headFlopSharePct', type: 'number', description: 'share of the unpruned FLOPs on the device [%]' },
    { name: 'crossingKB', type: 'number', description: 'bytes sent across the cut [kB] (0 when everything runs on the device)' },
    { name: 'feasible', type: 'number', description: '1 when some ratio, power and frequency meet the budgets at this cut' },
    { name: 'distortion', type: 'number', description: 'least distortion bound Gamma * D(rho) at this cut (empty when infeasible)' },
    { name: 'ratio', type: 'number', description: 'smallest feasible pruning ratio at this cut' },
    { name: 'energyJ', type: 'number', description: 'least device energy at that ratio [J]' },
    { name: 'latencyBudgetMs', type: 'number', description: 'latency budget [ms]' },
    { name: 'energyBudgetJ', type: 'number', description: 'device energy budget [J]' },
  ],
  defaults: (quick) => ({
    models: quick ? ['ppocr-rec'] : ['ppocr-rec', 'mnist-mlp'], levels: quick ? [0.5] : [0.125, 0.25, 0.375, 0.5, 0.625, 0.75],
    device: 'rpi4', channel: 'lte', server: 'desktop', goodPathLossDb: -110, poorPathLossDb: -126,
    latencyBudgetMs: 300, energyBudgetJ: 0.06,
  }),
  async simulate(config, ctx) {
    ctx.progress.start('split point', config.models.length * QUALITIES.length);
    const rows: Row[] = [];
    for (const id of config.models) {
      const data = await modelData(id, config.levels);
      for (const quality of QUALITIES) {
        const pathLossDb = quality === 'good channel' ? config.goodPathLossDb : config.poorPathLossDb;
        const problem = problemFor(data, { device: config.device, channel: config.channel, server: config.server, latencyS: config.latencyBudgetMs / 1000, energyJ: config.energyBudgetJ, pathLoss: dbToGain(pathLossDb) });
        const result = optimize(problem);
        for (const c of result.perCut) {
          rows.push({
            model: id, channelQuality: quality, pathLossDb, cutIndex: c.cutIndex, cutId: c.cutId,
            headFlopSharePct: headFlopShare(problem, c.cutIndex) * 100, crossingKB: problem.cuts[c.cutIndex]!.crossingBytes / 1000,
            feasible: c.feasible ? 1 : 0, distortion: c.distortion, ratio: c.ratio, energyJ: c.energyJ,
            latencyBudgetMs: config.latencyBudgetMs, energyBudgetJ: config.energyBudgetJ,
          });
        }
        ctx.progress.tick();
      }
    }
    return rows;
  },
  present(rows) {
    const figures: Figure[] = [];
    for (const id of [...new Set(rows.map((r) => String(r.model)))]) {
      const mine = rows.filter((r) => r.model === id);
      const last = Math.max(...mine.map((r) => r.cutIndex as number));
      const markers: Marker[] = [];
      const said: string[] = [];
      for (const q of QUALITIES) {
        const qs = mine.filter((r) => r.channelQuality === q && r.feasible === 1);
        const pl = mine.find((r) => r.channelQuality === q)?.pathLossDb as number;
        if (qs.length === 0) {
          said.push(`over the ${q} (${sig(pl)} dB) no cut meets the budgets`);
          continue;
        }
        const best = qs.reduce((a, b) => ((b.distortion as number) < (a.distortion as number) || ((b.distortion as number) === (a.distortion as number) && (b.energyJ as number) < (a.energyJ as number)) ? b : a));
        markers.push({ x: best.cutIndex as number, y: best.distortion as number, label: `optimum, ${q}: s=${best.cutIndex}`, series: q });
        const ends = [0, last].map((s) => qs.find((r) => r.cutIndex === s));
        const endText = ends.map((r, k) => `${k === 0 ? 'on-server' : 'on-device'} ${r ? sig(r.distortion as number) : 'infeasible'}`).join(', ');
        said.push(`over the ${q} (${sig(pl)} dB) ${qs.length} of ${last + 1} cuts are feasible and the best is s=${best.cutIndex} (${sig(best.headFlopSharePct as number)}% of the FLOPs on the device, ${sig(best.crossingKB as number)} kB sent) with a bound of ${sig(best.distortion as number)} (${endText})`);
      }
      const budget = mine[0]!;
      figures.push({
        plot: {
          id: `${id}-distortion`, title: `${id}: least distortion bound at each split point`,
          x: { field: 'cutIndex', title: `split point s (cut index: 0 = all on the server, ${last} = all on the device)`, integer: true },
          y: { field: 'distortion', title: 'least distortion bound Γ·D(ρ)' },
          seriesField: 'channelQuality', rows: mine, markers, lines: false,
        },
        paragraph: `With a ${sig(budget.latencyBudgetMs as number)} ms latency and a ${sig(budget.energyBudgetJ as number)} J energy budget: ${said.join('; ')}.${mine.some((r) => r.feasible !== 1) ? ' Missing points are cuts where no pruning ratio, power and frequency meet the budgets.' : ''}${mine.every((r) => r.feasible !== 1 || r.distortion === 0) ? ' No cut needs any pruning here; among equal bounds the optimum is the cut with the least device energy.' : ''}`,
      });
      const good = mine.filter((r) => r.channelQuality === QUALITIES[0]);
      const input = good.find((r) => r.cutIndex === 0)?.crossingKB as number;
      const smaller = good.filter((r) => (r.cutIndex as number) > 0 && (r.cutIndex as number) < last && (r.crossingKB as number) < input);
      figures.push({
        plot: {
          id: `${id}-crossing`, title: `${id}: bytes sent at each split point`,
          x: { field: 'cutIndex', title: `split point s (cut index: 0 = all on the server, ${last} = all on the device)`, integer: true },
          y: { field: 'crossingKB', title: 'tensor sent across the cut [kB] (log scale)', scale: 'log' },
          seriesField: 'series', rows: good.map((r) => ({ cutIndex: r.cutIndex ?? null, crossingKB: r.crossingKB ?? null, series: 'crossing tensor size' })),
          markers: [{ x: 0, y: input, label: `input ${sig(input)} kB` }],
        },
        paragraph: smaller.length === 0
          ? `No interior cut of ${id} sends less than its ${sig(input)} kB input: splitting inside the model only adds bytes to send, so the optimum sits at one of the two ends unless the device must shed compute it cannot afford.`
          : smaller.length === last - 1
            ? `Every interior cut of ${id} sends less than its ${sig(input)} kB input (down to ${sig(Math.min(...smaller.map((r) => r.crossingKB as number)))} kB): splitting saves bytes, and the choice turns on compute time and energy.`
            : `${smaller.length} of the ${last - 1} interior cuts of ${id} send less than its ${sig(input)} kB input, the first at s=${smaller[0]!.cutIndex} with ${sig(smaller[0]!.headFlopSharePct as number)}% of the FLOPs done on the device; every other split sends more than the raw input.`,
      });
    }
    return { figures };
  },
};
