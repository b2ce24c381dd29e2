// `edgesplit split MODEL --at CUT --out DIR`: cut a model at one of its cut points and write DIR/head.onnx
// (device half) and DIR/tail.onnx (server half); optionally check that the two compose to the original.
import { join } from 'node:path';
import { type CommandSpec, type Io, requireOption, runCommand } from '../args.ts';
import { MODEL_OPTIONS, analyzeFromArgs, formatBytes, formatCount, formatFlops } from './inspect.ts';
import { type ModelProto, saveModel } from '../../planner/onnx/model.ts';
import { type CrossingTensor, type CutPoint, type ModelAnalysis, findCut } from '../../planner/onnx/analyze.ts';
import { splitModel } from '../../planner/onnx/split.ts';
import { sampleFeeds } from '../../planner/onnx/shapes.ts';
import { type PlannerSession, createSession, maxAbsDiff } from '../../planner/onnx/session.ts';
import { EdgesplitError } from '../../shared/errors.ts';

/** How closely head then tail reproduced the original on one sample input. */
export interface SplitCheck {
  /** Largest |original - split| over all outputs. */
  maxAbsDiff: number;
  /** Largest |original| over all outputs: the scale the difference is judged against. */
  scale: number;
}

/**
 * Run the original model and head-then-tail on one seeded sample input at the analysed shapes and
 * compare every output. ERR_INTERNAL if the halves differ by more than 1e-5 of the output scale.
 */
export async function checkSplit(model: ModelProto, head: ModelProto, tail: ModelProto, analysis: ModelAnalysis): Promise<SplitCheck> {
  const feeds = sampleFeeds(analysis.inputs);
  const sessions: PlannerSession[] = [];
  const open = async (m: ModelProto): Promise<PlannerSession> => {
    const session = await createSession(m);
    sessions.push(session);
    return session;
  };
  try {
    const full = await open(model);
    const h = await open(head);
    const t = await open(tail);
    const expected = await full.run(feeds);
    const headFeeds = Object.fromEntries(Object.entries(feeds).filter(([name]) => h.inputNames.includes(name)));
    const got = await t.run(await h.run(headFeeds));
    let worst = 0;
    let scale = 0;
    for (const [name, ref] of Object.entries(expected)) {
      const out = got[name];
      if (!out) throw new EdgesplitError('ERR_INTERNAL', `split check: the tail does not produce output '${name}'`);
      const d = maxAbsDiff(Array.from(ref.data, Number), Array.from(out.data, Number));
      worst = Math.max(worst, d.maxDiff);
      scale = Math.max(scale, d.scale);
    }
    if (worst > 1e-5 * Math.max(scale, 1e-30)) {
      throw new EdgesplitError('ERR_INTERNAL', `split check failed: head then tail differs from the model by ${worst} (output scale ${scale}). Please report this with the model and cut.`, { details: { maxAbsDiff: worst, scale } });
    }
    return { maxAbsDiff: worst, scale };
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

/** The result of `edgesplit split`. */
export interface SplitOutput {
  model: string;
  cut: CutPoint;
  head: { path: string; bytes: number };
  tail: { path: string; bytes: number };
  crossing: CrossingTensor[];
  check?: SplitCheck;
}

function formatSplit(r: SplitOutput): string {
  const c = r.cut;
  const lines = [
    `cut ${c.index} (${c.id}) of ${r.model}: ${c.position} compute nodes on the device`,
    `head  ${r.head.path}  ${formatBytes(r.head.bytes)}  ${formatFlops(c.headFlops)}, ${formatCount(c.headParams)} params, peak activations ${formatBytes(c.headPeakActivationBytes)}`,
    `tail  ${r.tail.path}  ${formatBytes(r.tail.bytes)}  ${formatFlops(c.tailFlops)}, ${formatCount(c.tailParams)} params`,
    `crossing ${r.crossing.length} tensor${r.crossing.length > 1 ? 's' : ''}, ${formatBytes(c.crossingBytes)} per inference:`,
    ...r.crossing.map((t) => `  ${t.name}  ${t.dtype}[${t.symbolicDims.join(',')}]  ${formatBytes(t.bytes)} at [${t.dims.join(',')}]${t.kind === 'shape' ? '  (shape vector)' : ''}`),
  ];
  if (r.check) lines.push(`check  head then tail matches the model: max abs diff ${r.check.maxAbsDiff.toExponential(2)} (output scale ${r.check.scale.toPrecision(3)})`);
  return lines.join('\n') + '\n';
}

const spec = {
  name: 'split',
  summary: 'Cut a model at a cut point into DIR/head.onnx (inputs to the crossing tensors: the device half) and DIR/tail.onnx (crossing tensors to outputs: the server half).',
  positionals: ['MODEL'],
  options: {
    at: { type: 'string', value: 'CUT', help: "the cut point: its index or id from 'edgesplit inspect' (e.g. 12 or p40), or the name of the one tensor crossing it" },
    out: { type: 'string', value: 'DIR', help: 'directory to write head.onnx and tail.onnx to (created if missing)' },
    check: { type: 'boolean', help: 'run the model and head then tail on a sample input and compare the outputs' },
    ...MODEL_OPTIONS,
  },
  epilog: [
    'The tail reads exactly the crossing tensors, by the names printed (a model input or output that',
    'crosses travels as NAME.crossing). Feed the head only its own inputs.',
    '',
    'Examples:',
    '  edgesplit split ppocr-rec --at p120 --out split/',
    '  edgesplit split rec.onnx --input-shape x=1,3,48,320 --at 40 --out split/ --check --json',
  ].join('\n'),
} satisfies CommandSpec;

/** Entry point of `edgesplit split`. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(spec, argv, io, async ({ values, positionals }) => {
    const at = requireOption(spec, 'at', values.at);
    const outDir = requireOption(spec, 'out', values.out);
    const { loaded, analysis } = await analyzeFromArgs('split', spec, positionals[0]!, values);
    const cut = findCut(analysis, at);
    const { head, tail, crossing } = splitModel(loaded.model, cut, analysis);
    const check = values.check ? await checkSplit(loaded.model, head, tail, analysis) : undefined;
    const headPath = join(outDir, 'head.onnx');
    const tailPath = join(outDir, 'tail.onnx');
    const headBytes = await saveModel(head, headPath);
    const tailBytes = await saveModel(tail, tailPath);
    const result: SplitOutput = {
      model: loaded.source, cut, crossing,
      head: { path: headPath, bytes: headBytes.length },
      tail: { path: tailPath, bytes: tailBytes.length },
      ...(check ? { check } : {}),
    };
    return { json: result, text: formatSplit(result) };
  });
}
