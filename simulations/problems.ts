// Planning problems of real zoo models for the studies, from the planner's own bridge (buildProblem:
// cuts, FLOPs, bytes and memory from analyzeModel on real structured-pruned models, the distortion
// table from their real parameter distortion), cached per model and levels, with a setting laid on.
import { lipschitzGamma } from '../planner/prune/lipschitz.ts';
import { buildProblem, type ModelProblem } from '../planner/plan/problem.ts';
import { loadPlanSource } from '../planner/plan/source.ts';
import type { PlanningProblem } from '../planner/optimize/problem.ts';
import { builtinProfile, type ChannelProfile, type DeviceProfile, type ServerProfile } from '../planner/profiles/profiles.ts';
import { EdgesplitError } from '../shared/errors.ts';

/** Calibration inputs for the Lipschitz factor, as `edgesplit plan` uses by default. */
export const GAMMA_CALIBRATION_INPUTS = 32;

/** A model's problem data, independent of profiles and budgets. */
export interface ModelData {
  id: string;
  base: ModelProblem;
  /** Gamma of the bound Gamma * D: the Lipschitz factor of a chain model, else 1 (the bound is D). */
  gamma: number;
  gammaSource: 'lipschitz' | 'none';
}

const cache = new Map<string, Promise<ModelData>>();

function profile(kind: 'device', name: string): DeviceProfile;
function profile(kind: 'channel', name: string): ChannelProfile;
function profile(kind: 'server', name: string): ServerProfile;
function profile(kind: 'device' | 'channel' | 'server', name: string): DeviceProfile | ChannelProfile | ServerProfile {
  const p = builtinProfile(kind, name);
  if (!p) throw new EdgesplitError('ERR_CONFIG_INVALID', `unknown built-in ${kind} profile '${name}'. Should be one of the built-in profiles (docs/planner.md lists them).`, { details: { kind, name } });
  return p;
}

async function build(id: string, levels: number[]): Promise<ModelData> {
  const source = await loadPlanSource(id);
  let gamma = 1;
  let gammaSource: ModelData['gammaSource'] = 'none';
  try {
    const g = await lipschitzGamma(source.model, await source.sampleInputs(GAMMA_CALIBRATION_INPUTS, 0));
    if (Number.isFinite(g.gamma) && g.gamma > 0) {
      gamma = g.gamma;
      gammaSource = 'lipschitz';
    }
  } catch (e) {
    if (!(e instanceof EdgesplitError) || e.code !== 'ERR_MODEL_INVALID') throw e;
  }
  const base = await buildProblem(source, {
    device: profile('device', 'rpi4'), channel: profile('channel', 'wifi'), server: profile('server', 'desktop'),
    budgets: { latencyS: 1, energyJ: 1 }, gamma, ratios: levels,
  });
  return { id, base, gamma, gammaSource };
}

/** The problem data of a zoo model at structured-pruning `levels` (0 added), built once per process. */
export function modelData(id: string, levels: readonly number[]): Promise<ModelData> {
  const ratios = [...new Set([0, ...levels])].sort((a, b) => a - b);
  const key = `${id}|${ratios.join(',')}`;
  let p = cache.get(key);
  if (!p) {
    p = build(id, ratios);
    cache.set(key, p);
  }
  return p;
}

/** Profiles (built-in names), budgets and channel conditions of one planning problem. */
export interface Setting {
  device: string;
  channel: string;
  server: string;
  latencyS: number;
  energyJ: number;
  /** Fading power gain |h|^2 (1 = the Rayleigh mean). */
  fadingGain?: number;
  /** Path loss as a linear power gain below 1, instead of the channel profile's. */
  pathLoss?: number;
  /** Bandwidth instead of the channel profile's. */
  bandwidthHz?: number;
}

/**
 * The planning problem of a model in a setting. One departure from `edgesplit plan`'s problem, for
 * the studies' questions: ratios are continuous up to the largest real level (costs and distortion
 * are interpolated between real pruned models), so curves show the trade-off rather than the
 * levels' staircase.
 */
export function problemFor(data: ModelData, setting: Setting): PlanningProblem {
  const p = data.base.problem;
  const channel = profile('channel', setting.channel);
  const top = p.distortion.model === 'table' ? p.distortion.points[p.distortion.points.length - 1]!.ratio : 0;
  return {
    ...p,
    name: `${data.id} on ${setting.device} over ${setting.channel}`,
    device: profile('device', setting.device),
    channel: { ...channel, ...(setting.pathLoss !== undefined ? { pathLoss: setting.pathLoss } : {}), ...(setting.bandwidthHz !== undefined ? { bandwidthHz: setting.bandwidthHz } : {}) },
    server: profile('server', setting.server),
    budgets: { latencyS: setting.latencyS, energyJ: setting.energyJ },
    fadingGain: setting.fadingGain ?? 1,
    ratios: { kind: 'continuous', maxRatio: top },
  };
}

/** A power ratio in dB as a linear gain: -110 dB -> 1e-11. */
export function dbToGain(db: number): number {
  return 10 ** (db / 10);
}

/** Share of the unpruned model's FLOPs that run on the device at cut `cutIndex` (0 to 1). */
export function headFlopShare(problem: PlanningProblem, cutIndex: number): number {
  const c = problem.cuts[cutIndex]!.points[0]!;
  const total = c.headFlops + c.tailFlops;
  return total > 0 ? c.headFlops / total : 0;
}
