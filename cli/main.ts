// The one entry point: `edgesplit <command>` hands each sub-command to the module that owns it.
// Command modules load lazily, so `edgesplit solve` never pays for ONNX Runtime's start-up.
import { type Io, processIo } from './args.ts';

/** A sub-command module: `run` takes the arguments after the command name and returns the exit code. */
export interface CommandModule {
  run(argv: string[], io: Io): Promise<number>;
}

/** Every sub-command, its one-line summary and where it lives. */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  inspect: { summary: 'list a model\'s cut points with crossing bytes, FLOPs and parameters', load: () => import('./commands/inspect.ts') },
  split: { summary: 'cut a model at a cut point into head.onnx and tail.onnx', load: () => import('./commands/split.ts') },
  models: { summary: 'list the model zoo and write its models out', load: () => import('./commands/models.ts') },
  prune: { summary: 'prune a model (structured or unstructured) and measure its distortion', load: () => import('./commands/prune.ts') },
  profile: { summary: 'measure a model\'s segment latencies on this machine', load: () => import('./commands/profile.ts') },
  solve: { summary: 'solve a planning problem given as JSON, without a model', load: () => import('./commands/solve.ts') },
  plan: { summary: 'choose split, pruning, power and frequency; write device.onnx, server.onnx, plan.json', load: () => import('./commands/plan.ts') },
  serve: { summary: 'run the server half of one or more plans over WebSocket', load: () => import('./commands/serve.ts') },
  device: { summary: 'run the device half of a plan against a server', load: () => import('./commands/device.ts') },
  simulate: { summary: 'run a simulation study and write a report with plots', load: () => import('./commands/simulate.ts') },
  report: { summary: 'rebuild a simulation report from its CSV files', load: () => import('./commands/report.ts') },
  demo: { summary: 'the main job: plan the default model, serve it and run it end to end on loopback', load: () => import('./commands/demo.ts') },
};

function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return ['Usage: edgesplit <command> [options]', '', 'Prune a neural network, split it between a device and a server, and run it over WebSocket.', '', 'Commands:',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(w)}  ${c.summary}`),
    '', "Run 'edgesplit <command> --help' for a command's options.", ''].join('\n');
}

/** Dispatch argv (without node and script) to a sub-command; returns the exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    io.out('edgesplit 0.1.0\n');
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.err(`edgesplit: ERR_USAGE: unknown command '${name}'. Should be one of: ${Object.keys(COMMANDS).join(', ')}.\n`);
    return 2;
  }
  const mod = await cmd.load();
  return mod.run(rest, io);
}
