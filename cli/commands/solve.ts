// `edgesplit solve PROBLEM.json`: run the optimizer on a planning problem given as JSON, without a
// model, and print the decision, its cost breakdown and every scheme beside it.
import { type CommandSpec, type Io, numberOption, runCommand } from '../args.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { type PlanResult, type SchemeName, compareSchemes, solveScheme } from '../../planner/optimize/optimizer.ts';
import { type PlanningProblem, loadProblem } from '../../planner/optimize/problem.ts';
import { formatSi } from '../../planner/profiles/units.ts';

const SCHEMES: readonly SchemeName[] = ['joint', 'grid', 'on-device', 'on-server', 'split-only', 'fixed'];

/** The command's options and --help text. */
export const spec = {
  name: 'solve',
  summary: 'Solve a planning problem given as JSON (no model needed): choose the split, pruning ratio, transmit power and CPU frequency under the budgets.',
  positionals: ['PROBLEM.json'],
  options: {
    scheme: { type: 'string', value: 'NAME', help: `the scheme whose decision is printed: ${SCHEMES.join(', ')}`, default: 'joint' },
    split: { type: 'string', value: 'S', help: 'the cut for --scheme fixed (and an extra row in the comparison): an index into cuts or a cut id' },
    'grid-steps': { type: 'string', value: 'N', help: 'points per axis (ratio, power, frequency) of the exhaustive grid search', default: '41' },
    'per-cut': { type: 'boolean', help: 'also print the best ratio, distortion, latency and energy at every cut' },
  },
  epilog: 'The problem format is documented in docs/planner.md, with docs/problem.example.json as an example.\nExamples:\n  edgesplit solve docs/problem.example.json --per-cut\n  edgesplit solve docs/problem.example.json --scheme fixed --split patch_embed --json',
} satisfies CommandSpec;

function isScheme(s: string): s is SchemeName {
  return SCHEMES.some((x) => x === s);
}

function resolveSplit(problem: PlanningProblem, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const byId = problem.cuts.findIndex((c) => c.id === value);
  if (byId >= 0) return byId;
  const n = Number(value);
  if (value.trim() !== '' && Number.isInteger(n) && n >= 0 && n < problem.cuts.length) return n;
  throw new EdgesplitError('ERR_USAGE', `--split expects a cut index in [0, ${problem.cuts.length - 1}] or a cut id (${problem.cuts.slice(0, 4).map((c) => c.id).join(', ')}${problem.cuts.length > 4 ? ', ...' : ''}), got '${value}'. Run 'edgesplit solve --help'.`);
}

function dBm(powerW: number): string {
  return powerW > 0 ? `${(10 * Math.log10(powerW * 1000)).toFixed(1)} dBm` : '-inf dBm';
}

function row(r: PlanResult, problem: PlanningProblem): Array<string | number> {
  if (!r.feasible) return [r.scheme, 'no', '-', '-', '-', '-', '-', `cannot meet ${r.infeasibility.violated.join(' + ')}`];
  const b = r.breakdown;
  return [r.scheme, 'yes', `${b.cutIndex} ${problem.cuts[b.cutIndex]!.id}`, Number(b.ratio.toFixed(4)), Number(r.distortion.toPrecision(4)), formatSi(b.latency.totalS, 's'), formatSi(b.energy.totalJ, 'J'), ''];
}

function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** The human-readable report of a solved problem; `perCut` adds the best plan at every cut. */
export function formatSolve(problem: PlanningProblem, plan: PlanResult & { feasible: true }, comparison: PlanResult[], perCut = false): string {
  const b = plan.breakdown;
  const L = problem.cuts.length - 1;
  const budgets = problem.budgets;
  const lines = [
    `problem '${problem.name}': ${problem.cuts.length} cuts; device ${problem.device.name}, channel ${problem.channel.name}, server ${problem.server.name}`,
    `budgets: latency ${formatSi(budgets.latencyS, 's')}, energy ${formatSi(budgets.energyJ, 'J')}, memory ${formatSi(b.memory.limitBytes, 'B')}`,
    '',
    `${plan.scheme} plan:`,
    `  split       cut ${b.cutIndex} '${b.cutId}' (${b.cutIndex} of ${L} blocks on the device)`,
    `  pruning     ratio ${b.ratio.toFixed(4)}${plan.continuousRatio !== undefined ? ` (the smallest level at or above the continuous optimum ${plan.continuousRatio.toFixed(4)})` : ''}`,
    `  power       ${b.crossingBytes > 0 ? `${formatSi(b.powerW, 'W')} (${dBm(b.powerW)}), rate ${formatSi(b.rateBitPerS, 'bit/s')}` : 'none (nothing is sent)'}`,
    `  frequency   ${b.deviceCycles > 0 ? formatSi(b.freqHz, 'Hz') : 'idle (no device half)'}`,
    `  distortion  ${plan.distortion.toPrecision(4)} (the bound Gamma * D(rho))`,
    `  latency     ${formatSi(b.latency.totalS, 's')} = device ${formatSi(b.latency.deviceS, 's')} + transmit ${formatSi(b.latency.transmitS, 's')} + server ${formatSi(b.latency.serverS, 's')} + round trip ${formatSi(b.latency.roundTripS, 's')}`,
    `  energy      ${formatSi(b.energy.totalJ, 'J')} = device ${formatSi(b.energy.deviceJ, 'J')} + transmit ${formatSi(b.energy.transmitJ, 'J')}`,
    `  memory      ${formatSi(b.memory.totalBytes, 'B')} = weights ${formatSi(b.memory.paramBytes, 'B')} + activations ${formatSi(b.memory.activationBytes, 'B')}`,
    `  sent        ${formatSi(b.crossingBytes, 'B')}; device half ${formatSi(b.headFlops, 'FLOP')}, server half ${formatSi(b.tailFlops, 'FLOP')}`,
    '',
    'schemes:',
    table(['scheme', 'feasible', 'cut', 'ratio', 'distortion', 'latency', 'energy', 'note'], comparison.map((r) => row(r, problem))),
  ];
  if (perCut) {
    lines.push('', `best at each cut (${plan.scheme}):`, table(['cut', 'id', 'feasible', 'ratio', 'distortion', 'latency', 'energy'], plan.perCut.map((c) => [
      c.cutIndex, c.cutId, c.feasible ? 'yes' : 'no', c.ratio === null ? '-' : Number(c.ratio.toFixed(4)), c.distortion === null ? '-' : Number(c.distortion.toPrecision(4)),
      c.latencyS === null ? '-' : formatSi(c.latencyS, 's'), c.energyJ === null ? '-' : formatSi(c.energyJ, 'J'),
    ])));
  }
  return lines.join('\n') + '\n';
}

function summary(r: PlanResult): Record<string, unknown> {
  return r.feasible
    ? { scheme: r.scheme, feasible: true, decision: r.decision, distortion: r.distortion, latencyS: r.breakdown.latency.totalS, energyJ: r.breakdown.energy.totalJ, memoryBytes: r.breakdown.memory.totalBytes }
    : { scheme: r.scheme, feasible: false, violated: r.infeasibility.violated, message: r.infeasibility.message, minLatencyS: r.infeasibility.minLatencyS, minEnergyUnderLatencyJ: r.infeasibility.minEnergyUnderLatencyJ };
}

/** Run `edgesplit solve` with argv (after the command name); returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(spec, argv, io, async ({ values, positionals }) => {
    const scheme = values.scheme ?? 'joint';
    if (!isScheme(scheme)) throw new EdgesplitError('ERR_USAGE', `--scheme expects one of ${SCHEMES.join(', ')}, got '${scheme}'. Run 'edgesplit solve --help'.`);
    const steps = numberOption(spec, 'grid-steps', values['grid-steps'], 41, (n) => Number.isInteger(n) && n >= 2 && n <= 1001, 'an integer in [2, 1001]');
    const problem = loadProblem(positionals[0]!);
    const fixedCutIndex = resolveSplit(problem, values.split);
    if (scheme === 'fixed' && fixedCutIndex === undefined) throw new EdgesplitError('ERR_USAGE', "--scheme fixed needs --split S (a cut index or id). Run 'edgesplit solve --help'.");
    const options = { grid: { ratioSteps: steps, powerSteps: steps, freqSteps: steps }, ...(fixedCutIndex !== undefined ? { fixedCutIndex } : {}) };
    const comparison = compareSchemes(problem, options);
    const chosen = comparison.find((r) => r.scheme === scheme) ?? solveScheme(problem, scheme, options);
    if (!chosen.feasible) {
      const feasible = comparison.filter((r) => r.feasible).map((r) => r.scheme);
      const hint = feasible.length > 0 ? ` (${feasible.join(', ')} ${feasible.length > 1 ? 'do' : 'does'} meet the budgets: try --scheme ${feasible[0]})` : '';
      throw new EdgesplitError('ERR_INFEASIBLE', `${scheme}: ${chosen.infeasibility.message}${hint}`, {
        details: { scheme, violated: chosen.infeasibility.violated, minLatencyS: chosen.infeasibility.minLatencyS, minEnergyUnderLatencyJ: chosen.infeasibility.minEnergyUnderLatencyJ, comparison: comparison.map(summary) },
      });
    }
    const plan = chosen;
    return {
      json: { problem: problem.name, scheme, plan, comparison: comparison.map(summary) },
      text: formatSolve(problem, plan, comparison, values['per-cut'] === true),
    };
  });
}
