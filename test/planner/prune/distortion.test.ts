// Tests of the distortion figures: parameter and output distortion against a direct computation,
// unstructured magnitude pruning, the Laplace closed form against sampling, and the Lipschitz bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constantTensors, type ModelProto, tensorToFloat32 } from '../../../planner/onnx/model.ts';
import { modelGraph } from '../../../planner/onnx/graph.ts';
import { createSession, type Feeds } from '../../../planner/onnx/session.ts';
import { compareOutputs, parameterDistortion } from '../../../planner/prune/distortion.ts';
import { laplaceDistortion, laplaceDistortionMse, laplaceScale } from '../../../planner/prune/laplace.ts';
import { chainLayers, lipschitzCheck, lipschitzGamma } from '../../../planner/prune/lipschitz.ts';
import { applyPruning, maskPruning, planPruning } from '../../../planner/prune/structured.ts';
import { pruneUnstructured } from '../../../planner/prune/unstructured.ts';
import { distortionBound, distortionTable, magnitudeCurve } from '../../../planner/prune/study.ts';
import { loadZooModel } from '../../../planner/zoo/index.ts';
import { Rng } from '../../../planner/util/rng.ts';
import { EdgesplitError } from '../../../shared/errors.ts';

function values(model: ModelProto): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of constantTensors(modelGraph(model))) out.set(name, tensorToFloat32(t));
  return out;
}

test('parameter distortion of a structured plan equals ||W - W_masked||^2 / ||W||^2 computed directly', async () => {
  const { model } = await loadZooModel('mlp');
  const plan = planPruning(model, { ratio: 0.5 });
  const d = parameterDistortion(model, applyPruning(model, plan), plan);
  const w = values(model);
  const m = values(maskPruning(model, plan));
  const layer = (names: string[]): [number, number] => names.reduce<[number, number]>(([e, n], name) => {
    const a = w.get(name)!;
    const b = m.get(name)!;
    a.forEach((v, i) => { e += (v - b[i]!) ** 2; n += v * v; });
    return [e, n];
  }, [0, 0]);
  const expected = [['fc1.weight', 'fc1.bias'], ['fc2.weight', 'fc2.bias'], ['fc3.weight', 'fc3.bias']].map(layer);
  assert.deepEqual(d.layers.map((l) => l.node), ['fc1/gemm', 'fc2/gemm', 'logits']);
  d.layers.forEach((l, i) => assert.ok(Math.abs(l.distortion - expected[i]![0] / expected[i]![1]) < 1e-9, `${l.node}: ${l.distortion}`));
  const total = expected.reduce((a, x) => a + x[0], 0) / expected.reduce((a, x) => a + x[1], 0);
  assert.ok(Math.abs(d.total - total) < 1e-9);
  assert.ok(d.layers[2]!.distortion > 0 && d.layers[2]!.distortion < d.layers[0]!.distortion, 'the last layer loses only columns');
  // The same plan, measured on the masked model directly, gives the same figure.
  assert.ok(Math.abs(parameterDistortion(model, maskPruning(model, plan)).total - d.total) < 1e-12);
});

test('output distortion and top-1 agreement equal a direct computation from ONNX Runtime outputs', async () => {
  const zoo = await loadZooModel('mnist-mlp');
  const plan = planPruning(zoo.model, { ratio: 0.6 });
  const pruned = applyPruning(zoo.model, plan);
  const inputs = await zoo.sampleInputs(40, 3);
  const c = await compareOutputs(zoo.model, pruned, inputs);
  const run = async (m: ModelProto, f: Feeds): Promise<Float32Array> => {
    const s = await createSession(m);
    const y = (await s.run(f)).logits!.data as Float32Array;
    await s.release();
    return y;
  };
  let err = 0;
  let norm = 0;
  let agree = 0;
  for (const f of inputs) {
    const a = await run(zoo.model, f);
    const b = await run(pruned, f);
    a.forEach((v, i) => { err += (v - b[i]!) ** 2; norm += v * v; });
    const arg = (y: Float32Array): number => y.indexOf(Math.max(...y));
    if (arg(a) === arg(b)) agree++;
  }
  assert.ok(Math.abs(c.outputDistortion - err / norm) < 1e-9 * Math.max(1, err / norm));
  assert.equal(c.top1Agreement, agree / inputs.length);
  assert.ok(c.outputDistortion > 0.01 && c.top1Agreement < 1);
});

test('unstructured pruning zeroes exactly the smallest share of each layer, and its distortion is the sum of their squares', async () => {
  const { model } = await loadZooModel('cnn');
  const { model: pruned, report } = pruneUnstructured(model, { ratio: 0.3 });
  const before = values(model);
  const after = values(pruned);
  let err = 0;
  let norm = 0;
  for (const l of report.layers) {
    const a = before.get(l.weight)!;
    const b = after.get(l.weight)!;
    assert.equal(l.zeroed, Math.round(0.3 * a.length));
    assert.equal(b.filter((v) => v === 0).length, l.zeroed);
    const kept = Math.min(...Array.from(b).filter((v) => v !== 0).map(Math.abs));
    const removed = Math.max(...Array.from(a).filter((_, i) => b[i] === 0).map(Math.abs));
    assert.ok(removed <= kept, `${l.weight}: a zeroed weight (${removed}) is larger than a kept one (${kept})`);
    const sorted = Array.from(a, (v) => v * v).sort((x, y) => x - y);
    err += sorted.slice(0, l.zeroed).reduce((s, v) => s + v, 0);
    norm += sorted.reduce((s, v) => s + v, 0);
  }
  const curve = magnitudeCurve(model, [0.3]);
  assert.ok(Math.abs(curve.points[0]!.measured - err / norm) < 1e-9);
  const global = pruneUnstructured(model, { ratio: 0.3, scope: 'global' }).report;
  assert.ok(Math.abs(global.achievedRatio - 0.3) < 1e-3);
  assert.notDeepEqual(global.layers.map((l) => l.zeroed), report.layers.map((l) => l.zeroed));
});

test('Laplace closed form: 0.0666 at 0.5 and 0.243 at 0.7 for b = 1, and it matches sampled weights within 1%', () => {
  assert.ok(Math.abs(laplaceDistortionMse(0.5, 1) - 0.0666) < 1e-4);
  assert.ok(Math.abs(laplaceDistortionMse(0.7, 1) - 0.243) < 1e-3);
  assert.equal(laplaceDistortion(0), 0);
  const w = new Rng(11).laplaceArray(400_000, 0.3);
  assert.ok(Math.abs(laplaceScale(w) - 0.3) < 0.003);
  const sq = Float64Array.from(w, (v) => v * v).sort();
  const variance = 2 * 0.3 * 0.3;
  for (const rho of [0.1, 0.3, 0.5, 0.7, 0.9]) {
    const k = Math.round(rho * sq.length);
    let s = 0;
    for (let i = 0; i < k; i++) s += sq[i]!;
    const sampled = s / sq.length / variance;
    assert.ok(Math.abs(sampled / laplaceDistortion(rho) - 1) < 0.01, `rho ${rho}: sampled ${sampled}, closed form ${laplaceDistortion(rho)}`);
  }
  assert.throws(() => laplaceDistortion(1), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PRUNE_RATIO' && /'rho' is out of range/.test(e.message));
});

test('magnitude pruning of the generated (Laplace) models follows the closed form; of the trained MNIST model it lies above', async () => {
  for (const id of ['cnn', 'transformer']) {
    const c = magnitudeCurve((await loadZooModel(id)).model, [0.5, 0.7]);
    for (const p of c.points) assert.ok(Math.abs(p.measured / p.laplaceFitted - 1) < 0.05, `${id} at ${p.ratio}: ${p.measured} vs ${p.laplaceFitted}`);
  }
  const m = magnitudeCurve((await loadZooModel('mnist-mlp')).model, [0.5]);
  assert.ok(m.points[0]!.measured > 1.3 * m.points[0]!.laplaceFitted);
});

test('the Lipschitz bound holds on the MLP for every input, structured and unstructured, per input and as Gamma * D', async () => {
  const zoo = await loadZooModel('mlp');
  assert.equal(chainLayers(zoo.model).length, 3);
  const inputs = await zoo.sampleInputs(30, 4);
  for (const ratio of [0.2, 0.6]) {
    for (const pruned of [maskPruning(zoo.model, planPruning(zoo.model, { ratio })), pruneUnstructured(zoo.model, { ratio }).model]) {
      const c = await lipschitzCheck(zoo.model, pruned, inputs);
      c.measured.forEach((m, i) => assert.ok(m <= c.bound[i]!, `input ${i}: measured ${m} > bound ${c.bound[i]}`));
      assert.ok(c.worstRatio > 0 && c.worstRatio <= 1);
      assert.ok(c.outputDistortion <= c.gammaBound, `${c.outputDistortion} > ${c.gammaBound}`);
      assert.ok(c.parameterDistortion > 0);
    }
  }
  const g = await lipschitzGamma(zoo.model, inputs);
  assert.equal(distortionBound(0.5, g.gamma), g.gamma * laplaceDistortion(0.5));
  assert.ok(g.layers.every((l) => l.spectralNorm > 0));
});

test('the spectral norm from power iteration equals the largest singular value of a known matrix', async () => {
  const { augmentedSpectralNorm } = await import('../../../planner/prune/lipschitz.ts');
  // [[3, 0], [0, 4]] with bias 0, as the last layer: [W, b] has singular values 4 and 3.
  const sigma = augmentedSpectralNorm({ node: 'n', out: 2, in: 2, w: Float64Array.from([3, 0, 0, 4]), b: new Float64Array(2) }, true);
  assert.ok(Math.abs(sigma - 4) < 1e-9);
  // A hidden layer carries the 1 through: [[3, 0, 0], [0, 4, 0], [0, 0, 1]] still has norm 4.
  assert.ok(Math.abs(augmentedSpectralNorm({ node: 'n', out: 2, in: 2, w: Float64Array.from([3, 0, 0, 4]), b: new Float64Array(2) }, false) - 4) < 1e-9);
});

test('BAD CALL - the Lipschitz bound on a model that is not a chain is ERR_MODEL_INVALID', async () => {
  const { model } = await loadZooModel('cnn');
  assert.throws(() => chainLayers(model), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_MODEL_INVALID' && /not a chain model \(node 'stem.bn\/bn' is BatchNormalization\)/.test(e.message));
});

test('distortion table: real pruned models per ratio, distortion rising with the ratio, FLOPs falling', async () => {
  const zoo = await loadZooModel('mnist-mlp');
  const t = await distortionTable(zoo.model, { ratios: [0.25, 0.5, 0.75], evalInputs: await zoo.sampleInputs(30, 2), labelled: await zoo.labelled!(100), metric: zoo.taskMetric! });
  assert.ok(t.gamma !== undefined && t.gamma > 0);
  const p = t.points;
  for (let i = 1; i < p.length; i++) {
    assert.ok(p[i]!.parameterDistortion > p[i - 1]!.parameterDistortion);
    assert.ok(p[i]!.flops < p[i - 1]!.flops && p[i]!.params < p[i - 1]!.params);
    assert.ok(p[i]!.taskScore! <= p[i - 1]!.taskScore! + 0.02);
  }
  for (const x of p) {
    assert.ok(x.outputDistortion <= x.bound!, 'the Gamma * D bound holds');
    assert.ok(Math.abs(x.flops / t.base.flops - (1 - x.achievedRatio)) < 0.01, 'a chain loses FLOPs as it loses weights');
  }
});
