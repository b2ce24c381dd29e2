// The public face of pruning: structured pruning that shrinks layers (plan, apply, mask), unstructured
// magnitude pruning, least-squares re-fit, distortion figures, the Laplace and Lipschitz theory, and studies.
export { analyzeGroups, type GroupActivation, type GroupAnalysis, type GroupMember, type PruneGroup, type SkippedPart } from './groups.ts';
export { findAttentionHeads, type AttentionMatch } from './attention.ts';
export {
  applyPruning, channelImportance, maskPruning, planPruning, pruneStructured,
  type PlannedGroup, type PruneNorm, type PruneScope, type PruningPlan, type StructuredOptions,
} from './structured.ts';
export { checkRatio } from './ratio.ts';
export { pruneUnstructured, type UnstructuredOptions, type UnstructuredReport } from './unstructured.ts';
export { refitPruned, type RefitLayer, type RefitOptions } from './refit.ts';
export { weightLayers, type WeightLayer } from './layers.ts';
export { captureTensors, type Captured } from './activations.ts';
export {
  compareOutputs, parameterDistortion, taskScore, type LayerDistortion, type OutputComparison, type ParameterDistortion,
} from './distortion.ts';
export { laplaceDistortion, laplaceDistortionMse, laplaceScale } from './laplace.ts';
export { augmentedSpectralNorm, chainLayers, lipschitzCheck, lipschitzGamma, type ChainLayer, type LipschitzCheck, type LipschitzGamma } from './lipschitz.ts';
export {
  calibrationInputs, distortionBound, distortionTable, magnitudeCurve, modelCost, shapesOf,
  type DistortionPoint, type DistortionTable, type DistortionTableOptions, type MagnitudeCurve, type MagnitudePoint, type ModelCost,
} from './study.ts';
export { interleavedLatencyMs, runPruneJob, type BeforeAfter, type PairedLatency, type PruneJob, type PruneResult } from './pipeline.ts';
