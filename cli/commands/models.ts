// `edgesplit models [--out DIR]`: lists the model zoo and writes its models out as ONNX files with
// a models.json index.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CommandSpec, type Io, runCommand } from '../args.ts';
import { encodeModel, saveModel } from '../../planner/onnx/model.ts';
import { listZoo, loadZooModel, type ZooInfo } from '../../planner/zoo/index.ts';
import { EdgesplitError } from '../../shared/errors.ts';

const spec = {
  name: 'models',
  summary: 'List the model zoo (generated, trained and npm models) and optionally write each model out as DIR/<id>.onnx.',
  positionals: [],
  options: {
    out: { type: 'string', value: 'DIR', help: 'write each model as DIR/<id>.onnx and an index DIR/models.json' },
  },
  epilog: 'Examples:\n  edgesplit models\n  edgesplit models --out models/ --json',
} satisfies CommandSpec;

/** One zoo model as the command reports it: its zoo description, its ONNX size, and its file once written. */
export interface ZooListing extends ZooInfo {
  bytes: number;
  sha256: string;
  /** Path of the written .onnx file (with --out). */
  file?: string;
}

/** Every zoo model with its encoded size and sha256; with `outDir`, writes DIR/<id>.onnx and DIR/models.json. */
export async function listModels(outDir?: string): Promise<ZooListing[]> {
  const listings: ZooListing[] = [];
  for (const info of listZoo()) {
    const zoo = await loadZooModel(info.id);
    const bytes = outDir === undefined ? encodeModel(zoo.model) : await saveModel(zoo.model, join(outDir, `${info.id}.onnx`));
    listings.push({
      ...info, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'),
      ...(outDir === undefined ? {} : { file: join(outDir, `${info.id}.onnx`) }),
    });
  }
  if (outDir !== undefined) {
    const index = join(outDir, 'models.json');
    const entries = listings.map(({ file, ...rest }) => ({ ...rest, file: `${rest.id}.onnx` }));
    try {
      await writeFile(index, JSON.stringify({ models: entries }, null, 2) + '\n');
    } catch (cause) {
      throw new EdgesplitError('ERR_FILE_WRITE', `cannot write ${index}: ${(cause as Error).message}`, { cause, details: { path: index } });
    }
  }
  return listings;
}

function formatBytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

function formatParams(params: number): string {
  return params >= 1e6 ? `${(params / 1e6).toFixed(2)} M` : `${(params / 1e3).toFixed(1)} k`;
}

/** The human-readable table of the zoo. */
export function formatListing(listings: ZooListing[], outDir?: string): string {
  const rows = listings.map((l) => [l.id, l.source, formatParams(l.params), formatBytes(l.bytes),
    l.inputs.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', '), l.outputs.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', '), l.title]);
  const header = ['id', 'source', 'params', 'size', 'inputs', 'outputs', 'title'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const lines = [line(header), ...rows.map(line)];
  if (outDir !== undefined) lines.push('', `wrote ${listings.length} models and models.json to ${outDir}`);
  return lines.join('\n') + '\n';
}

/** Entry point of `edgesplit models`. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(spec, argv, io, async ({ values }) => {
    const outDir = values.out;
    if (outDir === '') throw new EdgesplitError('ERR_USAGE', `--out expects a directory, got ''. Run 'edgesplit models --help'.`);
    const listings = await listModels(outDir);
    return { json: { models: listings, ...(outDir === undefined ? {} : { outDir, index: join(outDir, 'models.json') }) }, text: formatListing(listings, outDir) };
  });
}
