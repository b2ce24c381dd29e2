// Scenario 6: task accuracy against the pruning ratio on the trained MNIST MLP (top-1 accuracy on
// held-out digits) and the PP-OCR recogniser (characters correct on lines of held-out MNIST digits).
import { EdgesplitError } from '../../shared/errors.ts';
import { pruneStructured } from '../../planner/prune/structured.ts';
import { pruneUnstructured } from '../../planner/prune/unstructured.ts';
import { loadZooModel } from '../../planner/zoo/index.ts';
import type { ModelProto } from '../../planner/onnx/model.ts';
import { agreement, evaluateModel } from '../evaluate.ts';
import { prose, sig } from '../format.ts';
import type { Scenario } from '../scenario.ts';
import type { Figure, Row } from '../types.ts';

/** How a model is pruned in this study. */
const METHODS = ['structured', 'unstructured'] as const;
type Method = (typeof METHODS)[number];

/** The knobs of the accuracy study. */
export type AccuracyConfig = {
  /** Pruning ratios for the MNIST MLP (0 is the unpruned reference and always run). */
  mnistRatios: number[];
  /** Held-out MNIST test digits scored per ratio. */
  mnistDigits: number;
  /** Pruning ratios for the PP-OCR recogniser: it is fragile, so small ratios matter most. */
  ocrRatios: number[];
  /** Held-out digit lines scored per ratio. */
  ocrLines: number;
  methods: string[];
};

/** Loss of accuracy, in percentage points, that still counts as "keeps its accuracy" in the paragraphs. */
export const TOLERATED_LOSS_POINTS = 1;

function checkMethods(methods: readonly string[]): Method[] {
  for (const m of methods) {
    if (!(METHODS as readonly string[]).includes(m)) {
      throw new EdgesplitError('ERR_CONFIG_INVALID', `accuracy.methods: unknown method '${m}'. Should be one of: ${METHODS.join(', ')}.`, { details: { method: m } });
    }
  }
  return methods as Method[];
}

function prune(model: ModelProto, method: Method, ratio: number, id: string): { model: ModelProto; achieved: number } {
  if (ratio === 0) return { model, achieved: 0 };
  if (method === 'unstructured') return { model: pruneUnstructured(model, { ratio }, id).model, achieved: ratio };
  const r = pruneStructured(model, { ratio }, id);
  return { model: r.model, achieved: r.plan.achievedRatio };
}

/** The largest ratio whose score stays within TOLERATED_LOSS_POINTS of the unpruned score (rows of one model and method, ascending). */
function keptUpTo(rows: readonly Row[]): number {
  const base = rows.find((r) => r.ratio === 0)?.scorePct as number;
  let best = 0;
  for (const r of rows) {
    if (base - (r.scorePct as number) <= TOLERATED_LOSS_POINTS) best = r.ratio as number;
    else break;
  }
  return best;
}

export const accuracyScenario: Scenario<AccuracyConfig> = {
  name: 'accuracy',
  number: 6,
  title: 'Accuracy against the pruning ratio',
  question: 'How much pruning can the MNIST model and the PP-OCR recogniser take before users notice, on real held-out data?',
  columns: [
    { name: 'model', type: 'string', description: 'zoo model id' },
    { name: 'method', type: 'string', description: 'pruning method: structured (whole neurons and channels removed by L2 magnitude, the same share per layer; really faster) or unstructured (the smallest weights of each layer zeroed; no faster on dense runtimes)' },
    { name: 'series', type: 'string', description: 'plot series: model and method' },
    { name: 'ratio', type: 'number', description: 'requested pruning ratio (share of prunable weights removed)' },
    { name: 'achievedRatio', type: 'number', description: 'ratio the discrete channel counts allowed' },
    { name: 'metric', type: 'string', description: 'task metric: top1-accuracy or characters-correct' },
    { name: 'scorePct', type: 'number', description: 'mean task score [%]' },
    { name: 'agreementPct', type: 'number', description: 'share of inputs with the same answer as the unpruned model [%]' },
    { name: 'samples', type: 'number', description: 'labelled inputs scored' },
  ],
  defaults: (quick) => quick
    ? { mnistRatios: [0, 0.3, 0.6], mnistDigits: 100, ocrRatios: [0, 0.05], ocrLines: 4, methods: ['structured', 'unstructured'] }
    : { mnistRatios: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], mnistDigits: 2000, ocrRatios: [0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2], ocrLines: 60, methods: ['structured', 'unstructured'] },
  async simulate(config, ctx) {
    const methods = checkMethods(config.methods);
    const plan: Array<{ id: 'mnist-mlp' | 'ppocr-rec'; ratios: number[]; n: number }> = [
      { id: 'mnist-mlp', ratios: [...new Set([0, ...config.mnistRatios])].sort((a, b) => a - b), n: config.mnistDigits },
      { id: 'ppocr-rec', ratios: [...new Set([0, ...config.ocrRatios])].sort((a, b) => a - b), n: config.ocrLines },
    ];
    ctx.progress.start('accuracy', plan.reduce((a, p) => a + p.ratios.length * methods.length, 0));
    const rows: Row[] = [];
    for (const { id, ratios, n } of plan) {
      const zoo = await loadZooModel(id);
      const set = await zoo.labelled!(n, ctx.seed);
      const metric = zoo.taskMetric!;
      const reference = await evaluateModel(zoo.model, set, metric);
      for (const method of methods) {
        for (const ratio of ratios) {
          const pruned = prune(zoo.model, method, ratio, id);
          const ev = ratio === 0 ? reference : await evaluateModel(pruned.model, set, metric);
          rows.push({
            model: id, method, series: `${id} ${method}`, ratio, achievedRatio: pruned.achieved, metric: metric.name,
            scorePct: ev.score * 100, agreementPct: agreement(ev, reference) * 100, samples: set.inputs.length,
          });
          ctx.progress.tick();
        }
      }
    }
    return rows;
  },
  present(rows) {
    const figures: Figure[] = [];
    for (const id of [...new Set(rows.map((r) => String(r.model)))]) {
      const mine = rows.filter((r) => r.model === id);
      const metric = mine[0]?.metric === 'characters-correct' ? 'characters correct' : 'top-1 accuracy';
      const base = mine.find((r) => r.ratio === 0)?.scorePct as number;
      const parts: string[] = [];
      for (const method of [...new Set(mine.map((r) => String(r.method)))]) {
        const ms = mine.filter((r) => r.method === method).sort((a, b) => (a.ratio as number) - (b.ratio as number));
        const last = ms[ms.length - 1]!;
        const kept = keptUpTo(ms);
        const first = ms.find((r) => (r.ratio as number) > 0);
        const keeps = kept > 0 || !first ? `keeps it within ${TOLERATED_LOSS_POINTS} percentage point up to ratio ${sig(kept)}` : `loses more than ${TOLERATED_LOSS_POINTS} percentage point already at the smallest ratio tried, ${sig(first.ratio as number)} (${sig(first.scorePct as number)}%),`;
        parts.push(`${method} pruning ${keeps} and leaves ${sig(last.scorePct as number)}% at ${sig(last.ratio as number)} (${sig(last.agreementPct as number)}% of answers unchanged)`);
      }
      const samples = mine[0]?.samples ?? 0;
      figures.push({
        plot: {
          id, title: `${id}: ${metric} against the pruning ratio`,
          x: { field: 'ratio', title: 'pruning ratio (share of prunable weights removed)' },
          y: { field: 'scorePct', title: `${metric} [%]` },
          seriesField: 'series', rows: mine, dashed: mine.filter((r) => r.method === 'unstructured').map((r) => String(r.series)),
        },
        paragraph: `Unpruned, ${id} scores ${sig(base)}% ${metric} on ${samples} held-out ${id === 'ppocr-rec' ? 'lines of MNIST test digits' : 'MNIST test digits'}; ${parts.join('; ')}.`,
      });
    }
    const tolerated = [...new Set(rows.map((r) => String(r.series)))].map((series) => {
      const ms = rows.filter((r) => r.series === series).sort((a, b) => (a.ratio as number) - (b.ratio as number));
      return `${series} ${sig(keptUpTo(ms))}`;
    });
    const summary = tolerated.length > 1
      ? `The largest ratio that keeps each model within ${TOLERATED_LOSS_POINTS} percentage point of its unpruned score: ${prose(tolerated)}. The planner's distortion bound is one number per ratio; these curves say how much of it a task can afford.`
      : undefined;
    return { figures, ...(summary ? { summary } : {}) };
  },
};
