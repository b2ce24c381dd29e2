// The cost model of MODEL.md in one place: device compute time and energy, uplink rate,
// transmission time and energy, server time, round trip, memory, and the budget checks. Every
// scheme, the grid search and the plan emitter price a decision through this module.
import { EdgesplitError } from '../../shared/errors.ts';
import type { ChannelProfile } from '../profiles/profiles.ts';
import type { Rng } from '../util/rng.ts';
import { type PlanningProblem, distortionAt, interpolate } from './problem.ts';

/** What the planner chooses: the split (index into problem.cuts), the pruning ratio, the transmit power and the CPU frequency. */
export interface Decision {
  cutIndex: number;
  ratio: number;
  powerW: number;
  freqHz: number;
}

/** The three budgets a plan must meet. */
export type BudgetName = 'latency' | 'energy' | 'memory';

/** A decision priced: every term of latency, energy and memory, and which budgets it breaks. */
export interface CostBreakdown {
  cutIndex: number;
  cutId: string;
  ratio: number;
  powerW: number;
  freqHz: number;
  headFlops: number;
  tailFlops: number;
  /** Device CPU cycles for the head: cyclesPerFlop * headFlops, or measured seconds * freqMax. */
  deviceCycles: number;
  crossingBytes: number;
  /** Uplink rate at powerW, in bit/s (0 when nothing is sent). */
  rateBitPerS: number;
  latency: { deviceS: number; transmitS: number; serverS: number; roundTripS: number; totalS: number };
  energy: { deviceJ: number; transmitJ: number; totalJ: number };
  memory: { paramBytes: number; activationBytes: number; totalBytes: number; limitBytes: number };
  distortion: number;
  budgets: { latencyS: number; energyJ: number; memoryBytes: number };
  /** The budgets this decision breaks; empty when it meets them all. */
  violated: BudgetName[];
}

/** Relative slack in budget checks, for rounding in the last bits of the closed forms. */
export const BUDGET_TOLERANCE = 1e-9;

/** Shannon rate r(p) = B log2(1 + p g / (N0 B)) in bit/s. */
export function rateBitPerS(powerW: number, bandwidthHz: number, gain: number, noiseDensityWPerHz: number): number {
  // NOTE: log1p, not log2(1 + x): at the small SNRs of slow, frugal transmissions 1 + x loses
  // the digits that the rate, and so the transmit time, depends on.
  return (bandwidthHz * Math.log1p((powerW * gain) / (noiseDensityWPerHz * bandwidthHz))) / Math.LN2;
}

/** The power that gives rate R: p = (N0 B / g)(2^(R / B) - 1). */
export function powerForRateW(rateBitPerS: number, bandwidthHz: number, gain: number, noiseDensityWPerHz: number): number {
  return ((noiseDensityWPerHz * bandwidthHz) / gain) * Math.expm1((rateBitPerS / bandwidthHz) * Math.LN2);
}

/** Transmit energy when `bits` are sent in exactly `timeS`: t (N0 B / g)(2^(bits / (B t)) - 1). */
export function transmitEnergyJ(bits: number, timeS: number, bandwidthHz: number, gain: number, noiseDensityWPerHz: number): number {
  if (bits === 0) return 0;
  return timeS * powerForRateW(bits / timeS, bandwidthHz, gain, noiseDensityWPerHz);
}

/** The channel's power gain g = path loss x fading draw. */
export function channelGain(problem: PlanningProblem): number {
  return problem.channel.pathLoss * problem.fadingGain;
}

/**
 * One fading draw for `problem.fadingGain`: the power gain |h|^2 of Rayleigh fading is exponential
 * with mean 1; a channel without fading always gives 1.
 */
export function drawFadingGain(channel: ChannelProfile, rng: Rng): number {
  return channel.fading === 'rayleigh' ? rng.exponential() : 1;
}

/** The device memory limit: the memory budget if given, never more than the device has. */
export function memoryLimitBytes(problem: PlanningProblem): number {
  return Math.min(problem.budgets.memoryBytes ?? Infinity, problem.device.memoryBytes);
}

/** The frequency-independent costs of one cut at one ratio, as the optimizer needs them. */
export interface CutCosts {
  headFlops: number;
  tailFlops: number;
  /** Device cycles a: T_dev = a / f, E_dev = kappa a f^2 (0 when the head is empty). */
  cycles: number;
  /** Bits to send: 8 * crossingBytes. */
  bits: number;
  crossingBytes: number;
  /** Server compute time (0 when the tail is empty). */
  serverS: number;
  /** Round trip (0 when nothing crosses). */
  roundTripS: number;
  paramBytes: number;
  activationBytes: number;
  memoryBytes: number;
}

interface CompiledCut {
  id: string;
  share: number;
  ratios: number[];
  headFlops: number[];
  tailFlops: number[];
  params: number[];
  acts: number[];
  crossingBytes: number;
  headRatios?: number[];
  headS?: number[];
  tailRatios?: number[];
  tailS?: number[];
}

/**
 * A problem prepared for fast repeated pricing (the optimizer calls `at` thousands of times).
 * The formulas are those of MODEL.md; see docs/planner.md for the departures.
 */
export class CostModel {
  readonly problem: PlanningProblem;
  readonly gain: number;
  readonly memoryLimitBytes: number;
  private readonly cuts: CompiledCut[];

  constructor(problem: PlanningProblem) {
    this.problem = problem;
    this.gain = channelGain(problem);
    this.memoryLimitBytes = memoryLimitBytes(problem);
    this.cuts = problem.cuts.map((c) => ({
      id: c.id,
      share: c.prunableShare,
      ratios: c.points.map((p) => p.ratio),
      headFlops: c.points.map((p) => p.headFlops),
      tailFlops: c.points.map((p) => p.tailFlops),
      params: c.points.map((p) => p.headParamBytes),
      acts: c.points.map((p) => p.headPeakActivationBytes),
      crossingBytes: c.crossingBytes,
      ...(c.measuredHead ? { headRatios: c.measuredHead.map((p) => p.ratio), headS: c.measuredHead.map((p) => p.latencyS) } : {}),
      ...(c.measuredTail ? { tailRatios: c.measuredTail.map((p) => p.ratio), tailS: c.measuredTail.map((p) => p.latencyS) } : {}),
    }));
  }

  /** The costs of cut `cutIndex` at `ratio` that do not depend on power or frequency. */
  at(cutIndex: number, ratio: number): CutCosts {
    const c = this.cuts[cutIndex];
    if (!c) throw new EdgesplitError('ERR_INTERNAL', `cut index ${cutIndex} is outside [0, ${this.cuts.length - 1}]`);
    const { device, server, channel } = this.problem;
    const headFlops = interpolate(c.ratios, c.headFlops, ratio, c.share);
    const tailFlops = interpolate(c.ratios, c.tailFlops, ratio, c.share);
    // NOTE: measured head seconds are at freqMax, so cycles = seconds * freqMax; T_dev = cycles / f
    // then gives the measured time at freqMax and scales as 1 / f below it.
    const cycles = c.headS && c.headRatios ? interpolate(c.headRatios, c.headS, ratio, c.share) * device.freqMaxHz : device.cyclesPerFlop * headFlops;
    const serverS = c.tailS && c.tailRatios
      ? interpolate(c.tailRatios, c.tailS, ratio, c.share)
      : tailFlops > 0 ? tailFlops / server.flopsPerS + server.overheadS : 0;
    const paramBytes = interpolate(c.ratios, c.params, ratio, c.share);
    const activationBytes = interpolate(c.ratios, c.acts, ratio, c.share);
    return {
      headFlops, tailFlops, cycles, bits: 8 * c.crossingBytes, crossingBytes: c.crossingBytes, serverS,
      roundTripS: c.crossingBytes > 0 ? channel.roundTripS : 0,
      paramBytes, activationBytes, memoryBytes: paramBytes + activationBytes,
    };
  }

  /** Price a full decision: every latency, energy and memory term, the distortion and the broken budgets. */
  breakdown(decision: Decision): CostBreakdown {
    const { device, channel, budgets } = this.problem;
    const q = this.at(decision.cutIndex, decision.ratio);
    const rate = q.bits > 0 ? rateBitPerS(decision.powerW, channel.bandwidthHz, this.gain, channel.noiseDensityWPerHz) : 0;
    const deviceS = q.cycles > 0 ? q.cycles / decision.freqHz : 0;
    const transmitS = q.bits > 0 ? (rate > 0 ? q.bits / rate : Infinity) : 0;
    const deviceJ = device.kappa * q.cycles * decision.freqHz ** 2;
    const transmitJ = q.bits > 0 && Number.isFinite(transmitS) ? decision.powerW * transmitS : 0;
    const totalS = deviceS + transmitS + q.serverS + q.roundTripS;
    const totalJ = deviceJ + transmitJ;
    const violated: BudgetName[] = [];
    if (!(totalS <= budgets.latencyS * (1 + BUDGET_TOLERANCE))) violated.push('latency');
    if (!(totalJ <= budgets.energyJ * (1 + BUDGET_TOLERANCE))) violated.push('energy');
    if (!(q.memoryBytes <= this.memoryLimitBytes * (1 + BUDGET_TOLERANCE))) violated.push('memory');
    return {
      cutIndex: decision.cutIndex, cutId: this.cuts[decision.cutIndex]!.id, ratio: decision.ratio, powerW: decision.powerW, freqHz: decision.freqHz,
      headFlops: q.headFlops, tailFlops: q.tailFlops, deviceCycles: q.cycles, crossingBytes: q.crossingBytes, rateBitPerS: rate,
      latency: { deviceS, transmitS, serverS: q.serverS, roundTripS: q.roundTripS, totalS },
      energy: { deviceJ, transmitJ, totalJ },
      memory: { paramBytes: q.paramBytes, activationBytes: q.activationBytes, totalBytes: q.memoryBytes, limitBytes: this.memoryLimitBytes },
      distortion: distortionAt(this.problem.distortion, decision.ratio),
      budgets: { latencyS: budgets.latencyS, energyJ: budgets.energyJ, memoryBytes: this.memoryLimitBytes },
      violated,
    };
  }
}

/**
 * Price a decision (MODEL.md's cost model): T_dev = a / f, E_dev = kappa a f^2 (a = device cycles),
 * r(p) = B log2(1 + p g / (N0 B)), T_tx = 8 S / r(p), E_tx = p T_tx, T_srv, T_rtt, memory, distortion.
 */
export function costBreakdown(problem: PlanningProblem, decision: Decision): CostBreakdown {
  return new CostModel(problem).breakdown(decision);
}
