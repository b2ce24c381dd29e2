// Scenario 8: predicted against measured latency. Plans emitted by the planner at several cuts and
// ratios run through the real runtimes (edgesplit's server and device runtime, one process, loopback
// WebSocket); the planner predicts each plan's latency from a profile measured on this machine
// (`edgesplit profile`) and from FLOPs alone. The uplink's share comes from the channel profile,
// added to both sides, since loopback has no radio.
// NOTE: the one simulation that imports the runtimes (server-runtime, device-runtime) besides the
// planner: measuring what they do is the question. They still import nothing of the simulations.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { costBreakdown, type Decision } from '../../planner/optimize/cost.ts';
import type { PlanningProblem } from '../../planner/optimize/problem.ts';
import { calibrate, writeMeasuredProfile, loadMeasuredProfile } from '../../planner/plan/calibrate.ts';
import { emitPlan } from '../../planner/plan/emit.ts';
import { buildProblem } from '../../planner/plan/problem.ts';
import { loadPlanSource } from '../../planner/plan/source.ts';
import { builtinProfile, type DeviceProfile, type ServerProfile } from '../../planner/profiles/profiles.ts';
import { startServer } from '../../server-runtime/server.ts';
import { DeviceRuntime } from '../../device-runtime/index.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { dbToGain, headFlopShare } from '../problems.ts';
import { median, percent, prose, sig } from '../format.ts';
import type { Scenario } from '../scenario.ts';
import type { Figure, Row } from '../types.ts';

export type PredictedConfig = {
  model: string;
  /** Pruning levels planned (real pruned models; 0 is the unpruned one). */
  ratios: number[];
  /** Cut points measured by the profile (spread over the model, ends included). */
  profileCuts: number;
  /** Interior cut points at which plans are emitted and run. */
  evaluationCuts: number;
  /** Timed requests per plan (median taken) after the warm-up ones. */
  requests: number;
  warmup: number;
  /** Channel profile whose uplink time and round trip are added to the loopback measurement. */
  channel: string;
  pathLossDb: number;
};

/** Spread `k` interior cut indices of `n` cuts, away from the ends. */
function interiorCuts(n: number, k: number): number[] {
  const out = new Set<number>();
  for (let j = 0; j < k; j++) out.add(Math.min(n - 2, Math.max(1, Math.round(((j + 0.5) / k) * (n - 1)))));
  return [...out].sort((a, b) => a - b);
}

/** This machine as a device profile: its clock, and cycles per FLOP fitted so that FLOPs alone predict the whole model's measured time. */
function thisMachine(freqHz: number, cyclesPerFlop: number): DeviceProfile {
  return {
    kind: 'device', name: 'this machine', description: 'the machine the study runs on, one ONNX Runtime thread',
    freqMinHz: freqHz, freqMaxHz: freqHz, kappa: 1e-27, cyclesPerFlop, memoryBytes: 2 ** 40,
  };
}

export const predictedScenario: Scenario<PredictedConfig> = {
  name: 'predicted-vs-measured',
  number: 8,
  title: 'Predicted against measured latency',
  question: 'Can users trust the planner\'s latency figures: how close are they to what the runtimes measure for the same plan?',
  columns: [
    { name: 'model', type: 'string', description: 'zoo model id' },
    { name: 'ratio', type: 'number', description: 'pruning ratio of the emitted plan' },
    { name: 'cutIndex', type: 'number', description: 'split point s of the emitted plan' },
    { name: 'cutId', type: 'string', description: 'cut id (p<position>)' },
    { name: 'profiled', type: 'number', description: '1 when the measured profile timed this very cut; 0 when its times are interpolated from neighbours' },
    { name: 'headFlopSharePct', type: 'number', description: 'share of the unpruned FLOPs on the device [%]' },
    { name: 'crossingKB', type: 'number', description: 'bytes sent per request [kB]' },
    { name: 'predictedMs', type: 'number', description: 'planner latency with the measured profile: device + uplink + server + round trip [ms]' },
    { name: 'predictedFlopsMs', type: 'number', description: 'planner latency from FLOPs alone (cycles per FLOP and server FLOP/s fitted to the whole model) [ms]' },
    { name: 'measuredMs', type: 'number', description: 'median end-to-end time of the runtimes on loopback plus the simulated uplink and round trip [ms] (measured wall time: varies run to run)' },
    { name: 'simulatedNetworkMs', type: 'number', description: 'uplink time at full power plus the round trip, from the channel profile [ms]' },
    { name: 'measuredDeviceMs', type: 'number', description: 'median device-half time in the device runtime [ms]' },
    { name: 'measuredServerMs', type: 'number', description: 'median server-half run time reported by the server [ms]' },
    { name: 'measuredOverheadMs', type: 'number', description: 'median of the rest: frame encode and decode, loopback WebSocket, server queue and hand-over [ms]' },
    { name: 'predictedDeviceMs', type: 'number', description: 'planner device time with the measured profile [ms]' },
    { name: 'predictedServerMs', type: 'number', description: 'planner server time with the measured profile [ms]' },
    { name: 'requests', type: 'number', description: 'timed requests' },
  ],
  defaults: (quick) => quick
    ? { model: 'mnist-mlp', ratios: [0], profileCuts: 3, evaluationCuts: 2, requests: 10, warmup: 3, channel: 'wifi', pathLossDb: -90 }
    : { model: 'ppocr-rec', ratios: [0, 0.5], profileCuts: 6, evaluationCuts: 6, requests: 20, warmup: 3, channel: 'wifi', pathLossDb: -90 },
  async simulate(config, ctx) {
    const source = await loadPlanSource(config.model);
    const work = await mkdtemp(join(tmpdir(), 'edgesplit-sim-predicted-'));
    try {
      ctx.progress.start('profiling this machine', 1);
      const file = await calibrate(source, { ratios: config.ratios, cuts: config.profileCuts, runs: 10, warmup: 2, threads: 1 });
      ctx.progress.tick();
      const freqHz = file.machine.freqHz;
      const profilePath = join(work, 'profile.json');
      await writeMeasuredProfile(file, profilePath);
      const base = await buildProblem(source, {
        device: thisMachine(freqHz, 1), channel: builtinProfile('channel', config.channel)!, server: builtinProfile('server', 'desktop')!,
        budgets: { latencyS: 1e3, energyJ: 1e3 }, gamma: 1, ratios: config.ratios,
      });
      // Fit FLOPs-only profiles to the whole model's measured time at ratio 0 (the last profiled cut runs everything on the device, the first everything on the server).
      const whole = file.measuredLatency.points.filter((p) => p.ratio === 0);
      const secs = (s: string): number => Number(s.replace(/\s*ms$/, '')) / 1000;
      const totalFlops = base.levels[0]!.analysis.totals.flops;
      const lastCut = file.settings.cuts[file.settings.cuts.length - 1]!;
      const deviceWholeS = secs(whole.find((p) => p.cut === lastCut)!.head);
      const serverWholeS = secs(whole.find((p) => p.cut === file.settings.cuts[0])!.tail);
      const device = await loadMeasuredProfile(profilePath, thisMachine(freqHz, (deviceWholeS * freqHz) / totalFlops), { modelSha256: source.sha256 });
      const server: ServerProfile = { kind: 'server', name: 'this machine', description: 'the machine the study runs on, one ONNX Runtime thread', flopsPerS: totalFlops / serverWholeS, overheadS: 0, measuredLatency: device.measuredLatency! };
      const channel = { ...builtinProfile('channel', config.channel)!, pathLoss: dbToGain(config.pathLossDb) };
      const mp = await buildProblem(source, { device, channel, server, budgets: { latencyS: 1e3, energyJ: 1e3 }, gamma: 1, ratios: config.ratios, measured: { device: device.measuredLatency!, server: device.measuredLatency! } });
      const flopsProblem: PlanningProblem = { ...mp.problem, cuts: mp.problem.cuts.map(({ measuredHead: _h, measuredTail: _t, ...c }) => c) };
      const cuts = interiorCuts(mp.problem.cuts.length, config.evaluationCuts);
      const profiled = new Set(file.settings.cuts);
      const rows: Row[] = [];
      ctx.progress.start('plans on loopback', cuts.length * config.ratios.length);
      for (const ratio of config.ratios) {
        for (const cutIndex of cuts) {
          const decision: Decision = { cutIndex, ratio, powerW: channel.powerMaxW, freqHz };
          const dir = join(work, `plan-${ratio}-${cutIndex}`);
          const emitted = await emitPlan(mp, decision, dir, { calibrationInputs: 2, profileNames: { device: 'this machine', channel: config.channel, server: 'this machine' }, gammaSource: '1 (latency study)' });
          const predicted = emitted.breakdown;
          const byFlops = costBreakdown(flopsProblem, decision);
          const networkS = predicted.latency.transmitS + predicted.latency.roundTripS;
          const srv = await startServer({ plans: [dir], host: '127.0.0.1', port: 0, workers: 1, log: () => undefined });
          const rt = await DeviceRuntime.open(dir, { server: srv.url, threads: 1, heartbeatMs: 0 });
          try {
            const inputs = (await source.sampleInputs(4, ctx.seed)).map((f) => Object.fromEntries(Object.entries(f).map(([k, t]) => [k, { dims: t.dims, data: t.data }])));
            const timings = [];
            for (let i = 0; i < config.warmup + config.requests; i++) {
              const r = await rt.infer(inputs[i % inputs.length]! as Parameters<DeviceRuntime['infer']>[0]);
              if (i >= config.warmup) timings.push(r.timing);
            }
            const total = median(timings.map((t) => t.totalMs));
            const dev = median(timings.map((t) => t.deviceMs));
            const run = median(timings.map((t) => t.serverRunMs ?? 0));
            rows.push({
              model: config.model, ratio, cutIndex, cutId: mp.problem.cuts[cutIndex]!.id, profiled: profiled.has(mp.problem.cuts[cutIndex]!.id) ? 1 : 0,
              headFlopSharePct: headFlopShare(mp.problem, cutIndex) * 100, crossingKB: predicted.crossingBytes / 1000,
              predictedMs: predicted.latency.totalS * 1000, predictedFlopsMs: byFlops.latency.totalS * 1000,
              measuredMs: total + networkS * 1000, simulatedNetworkMs: networkS * 1000,
              measuredDeviceMs: dev, measuredServerMs: run, measuredOverheadMs: median(timings.map((t) => t.totalMs - t.deviceMs - (t.serverRunMs ?? 0))),
              predictedDeviceMs: predicted.latency.deviceS * 1000, predictedServerMs: predicted.latency.serverS * 1000, requests: timings.length,
            });
          } finally {
            await rt.close();
            await srv.close();
          }
          ctx.progress.tick();
        }
      }
      return rows;
    } catch (e) {
      if (e instanceof EdgesplitError) throw e;
      throw new EdgesplitError('ERR_INTERNAL', `the predicted-against-measured study failed: ${(e as Error).message}`, { cause: e });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
  present(rows) {
    const figures: Figure[] = [];
    const model = String(rows[0]?.model ?? '');
    for (const ratio of [...new Set(rows.map((r) => r.ratio as number))]) {
      const mine = rows.filter((r) => r.ratio === ratio);
      const series = mine.flatMap((r): Row[] => [
        { cutIndex: r.cutIndex ?? null, ms: r.measuredMs ?? null, series: 'measured' },
        { cutIndex: r.cutIndex ?? null, ms: r.predictedMs ?? null, series: 'predicted' },
        { cutIndex: r.cutIndex ?? null, ms: r.predictedFlopsMs ?? null, series: 'predicted from FLOPs' },
      ]);
      const errs = mine.map((r) => Math.abs((r.predictedMs as number) / (r.measuredMs as number) - 1));
      const errsF = mine.map((r) => Math.abs((r.predictedFlopsMs as number) / (r.measuredMs as number) - 1));
      const over = mine.map((r) => r.measuredOverheadMs as number);
      figures.push({
        plot: {
          id: `latency-r${ratio}`, title: `${model}, pruning ratio ${sig(ratio)}: predicted and measured latency per split point`,
          x: { field: 'cutIndex', title: 'split point s (cut index)', integer: true }, y: { field: 'ms', title: 'latency per inference [ms]' },
          seriesField: 'series', rows: series, dashed: ['predicted', 'predicted from FLOPs'],
        },
        paragraph: `Over ${mine.length} plans at ratio ${sig(ratio)}, the prediction with the profile measured on this machine is off by ${percent(Math.min(...errs))} to ${percent(Math.max(...errs))} of the measured latency (median ${percent(median(errs))}); from FLOPs alone by ${percent(Math.min(...errsF))} to ${percent(Math.max(...errsF))} (median ${percent(median(errsF))}). The runtimes add ${sig(Math.min(...over))}-${sig(Math.max(...over))} ms the planner does not model (frame encode and decode, the loopback WebSocket, the server's queue and hand-over), on top of ${sig(mine[0]?.simulatedNetworkMs as number)} ms or more of simulated uplink and round trip added to both sides.`,
      });
    }
    const errRows = rows.flatMap((r): Row[] => [
      { cutIndex: r.cutIndex ?? null, errPct: ((r.predictedMs as number) / (r.measuredMs as number) - 1) * 100, series: `predicted, ρ=${sig(r.ratio as number)}` },
      { cutIndex: r.cutIndex ?? null, errPct: ((r.predictedFlopsMs as number) / (r.measuredMs as number) - 1) * 100, series: `predicted from FLOPs, ρ=${sig(r.ratio as number)}` },
    ]);
    const profiledErr = rows.filter((r) => r.profiled === 1).map((r) => Math.abs((r.predictedMs as number) / (r.measuredMs as number) - 1));
    const interpErr = rows.filter((r) => r.profiled === 0).map((r) => Math.abs((r.predictedMs as number) / (r.measuredMs as number) - 1));
    const parts: string[] = [];
    if (profiledErr.length > 0) parts.push(`${percent(median(profiledErr))} at cuts the profile timed`);
    if (interpErr.length > 0) parts.push(`${percent(median(interpErr))} at cuts whose times it interpolated from the timed ones`);
    figures.push({
      plot: {
        id: 'error', title: `${model}: prediction error per split point`,
        x: { field: 'cutIndex', title: 'split point s (cut index)', integer: true }, y: { field: 'errPct', title: 'predicted / measured - 1 [%]', zero: true },
        seriesField: 'series', rows: errRows, dashed: [...new Set(errRows.map((r) => String(r.series)).filter((n) => !n.endsWith('ρ=0')))],
      },
      paragraph: `Negative: the planner promises less time than the plan takes. ${parts.length > 0 ? `With the measured profile, the median error is ${prose(parts)}.` : ''} Measured times are wall-clock medians on a shared machine and vary from run to run.`,
    });
    return { figures };
  },
};
