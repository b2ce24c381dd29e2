// `edgesplit simulate`: run one, several or all simulation studies and write the report directory
// (report.md, report.html, one CSV per scenario, one SVG per plot, config.json).
import { readFile } from 'node:fs/promises';
import { EdgesplitError } from '../../shared/errors.ts';
import { type CommandSpec, type Io, numberOption, requireOption, runCommand } from '../args.ts';
import { SCENARIOS } from '../../simulations/scenarios/index.ts';
import { stderrProgress } from '../../simulations/progress.ts';
import { resolveStudy, runStudy, DEFAULT_SEED } from '../../simulations/study.ts';

export const spec = {
  name: 'simulate',
  summary: 'Run simulation studies on the zoo\'s models and write a report with plots, CSVs and the exact configuration.',
  positionals: [],
  options: {
    scenario: { type: 'string', multiple: true, value: 'NAME', help: 'a scenario to run (repeatable); see the list below' },
    config: { type: 'string', value: 'FILE', help: 'a study configuration: { "seed", "quick", "scenarios": { NAME: { knobs } } }' },
    all: { type: 'boolean', help: 'run every scenario' },
    quick: { type: 'boolean', help: 'the small version of each study (seconds, for CI)' },
    seed: { type: 'string', value: 'N', help: `seed of every random draw (default ${DEFAULT_SEED})` },
    out: { type: 'string', value: 'DIR', help: 'output directory (created if missing)' },
  },
  epilog: `Scenarios:\n${SCENARIOS.map((s) => `  ${s.name.padEnd(22)} ${s.number}. ${s.title}`).join('\n')}\n\nExample: edgesplit simulate --scenario latency-budget --quick --out out/sim`,
} satisfies CommandSpec;

/** Run `edgesplit simulate` with argv (after the command name); returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(spec, argv, io, async ({ values }) => {
    const outDir = requireOption(spec, 'out', values.out);
    const seed = values.seed === undefined ? undefined : numberOption(spec, 'seed', values.seed, DEFAULT_SEED, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
    let file: unknown;
    if (values.config !== undefined) {
      let text: string;
      try {
        text = await readFile(values.config, 'utf8');
      } catch (cause) {
        const code = (cause as NodeJS.ErrnoException).code;
        throw new EdgesplitError(code === 'ENOENT' ? 'ERR_FILE_NOT_FOUND' : 'ERR_FILE_READ', `config file ${values.config} could not be read (${code ?? 'error'}). Check the path.`, { cause, details: { path: values.config } });
      }
      try {
        file = JSON.parse(text);
      } catch (cause) {
        throw new EdgesplitError('ERR_CONFIG_INVALID', `config file ${values.config}: not valid JSON (${(cause as Error).message}). Expected { "seed"?, "quick"?, "scenarios": { NAME: { knobs } } }.`, { cause, details: { path: values.config } });
      }
    }
    const study = resolveStudy(SCENARIOS, {
      ...(values.scenario ? { names: values.scenario } : {}),
      all: values.all === true,
      ...(file !== undefined ? { file, fileName: values.config } : {}),
      ...(values.quick ? { quick: true } : {}),
      ...(seed !== undefined ? { seed } : {}),
    });
    const summary = await runStudy(SCENARIOS, study, outDir, { progress: stderrProgress(), log: (line) => io.err(`${line}\n`) });
    const text = [`wrote ${summary.files.length} files to ${outDir}:`, ...summary.scenarios.map((s) => `  ${s.name}: ${s.points} points, ${s.wallS.toFixed(1)} s`), `open ${outDir}/report.html or ${outDir}/report.md`].join('\n');
    return { json: summary, text };
  });
}
