// One results file for every benchmark: docs/benchmarks.md, which the README links. Each benchmark
// rewrites only its own section, between markers, so they can run separately and in any order.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { cpus } from 'node:os';

export const RESULTS_PATH = new URL('../docs/benchmarks.md', import.meta.url);

const HEADER = '# Benchmarks\n\nEach section is written by the script it names (`npm run bench:NAME` or `node --import tsx bench/NAME.ts`). Times are medians of repeated runs on the machine named in the section; ratios are measured side by side in one run.\n';

/** Replace (or append) the section `name` of docs/benchmarks.md with `markdown`. */
export async function writeSection(name: string, markdown: string): Promise<void> {
  await mkdir(new URL('../docs/', import.meta.url), { recursive: true });
  let doc = HEADER;
  try {
    doc = await readFile(RESULTS_PATH, 'utf8');
  } catch {
    // first benchmark to run: start the file
  }
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const machine = `_Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}._`;
  const section = `${begin}\n${markdown.trim()}\n\n${machine}\n${end}`;
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  doc = i >= 0 && j > i ? doc.slice(0, i) + section + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n${section}\n`;
  await writeFile(RESULTS_PATH, doc);
}

/** Median of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A markdown table. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
