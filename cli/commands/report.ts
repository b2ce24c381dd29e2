// `edgesplit report DIR`: rebuild a simulation report (report.md, report.html, SVGs) from the CSVs and
// config.json that `edgesplit simulate` wrote, without running anything again.
import { type CommandSpec, type Io, runCommand } from '../args.ts';
import { SCENARIOS } from '../../simulations/scenarios/index.ts';
import { rebuildReport } from '../../simulations/study.ts';

export const spec = {
  name: 'report',
  summary: 'Rebuild a simulation report from the CSVs and config.json in DIR (after editing or for a new edgesplit version).',
  positionals: ['DIR'],
  options: {},
  epilog: 'Example: edgesplit report reports',
} satisfies CommandSpec;

/** Run `edgesplit report` with argv (after the command name); returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(spec, argv, io, async ({ positionals }) => {
    const dir = positionals[0]!;
    const { files } = await rebuildReport(SCENARIOS, dir);
    return { json: { dir, files }, text: `rebuilt ${files.length} files in ${dir}` };
  });
}
