// The rate-distortion side of MODEL.md: weights close to Laplace(b), and the exact distortion of
// magnitude pruning a share rho of them, in closed form, to set beside the measured curve.
import { checkRatio } from './ratio.ts';

/** Maximum-likelihood Laplace scale of zero-mean weights: the mean absolute value. */
export function laplaceScale(weights: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < weights.length; i++) s += Math.abs(weights[i]!);
  return weights.length === 0 ? 0 : s / weights.length;
}

/**
 * Normalised distortion of magnitude pruning a share `rho` of Laplace weights (mean squared error
 * divided by the variance 2b^2): rho - (1 - rho)(u + u^2 / 2), u = -ln(1 - rho). 0 at 0, 1 as rho -> 1.
 */
export function laplaceDistortion(rho: number): number {
  checkRatio(rho, 'rho');
  const u = -Math.log(1 - rho);
  return rho - (1 - rho) * (u + (u * u) / 2);
}

/** Mean squared error per weight of magnitude pruning Laplace(b) weights: 2 b^2 times `laplaceDistortion`. */
export function laplaceDistortionMse(rho: number, b: number): number {
  return 2 * b * b * laplaceDistortion(rho);
}
