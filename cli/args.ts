// The command-line layer shared by every sub-command: typed option specs, --help, --json, and the
// mapping of errors to exit codes (0 ok, 1 failure, 2 usage). Commands parse argv here and call pure functions.
import { parseArgs } from 'node:util';
import { EdgesplitError, isEdgesplitError } from '../shared/errors.ts';

/** One option of a command. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** What it does, with units; shown by --help. */
  help: string;
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in --help, e.g. "MS" or "DIR". */
  value?: string;
  default?: string | boolean;
}

/** A sub-command: its name, a one-line summary, positional arguments and options. */
export interface CommandSpec<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  name: string;
  summary: string;
  /** Positional arguments in order; `?` suffix marks an optional one ("MODEL.onnx", "DIR?"). */
  positionals: string[];
  options: O;
  /** Extra lines after the options in --help (examples, notes). */
  epilog?: string;
}

type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean | undefined : O[K]['multiple'] extends true ? string[] | undefined : string | undefined;
};

/** What `parseCommand` returns: typed option values and positional arguments. */
export interface ParsedArgs<O extends Record<string, OptionSpec>> {
  values: Values<O> & { json?: boolean; help?: boolean };
  positionals: string[];
}

/** The --help text of a command. */
export function helpText(spec: CommandSpec): string {
  const pos = spec.positionals.map((p) => (p.endsWith('?') ? `[${p.slice(0, -1)}]` : p)).join(' ');
  const lines = [`Usage: edgesplit ${spec.name}${pos ? ' ' + pos : ''} [options]`, '', spec.summary, '', 'Options:'];
  const all: Record<string, OptionSpec> = { ...spec.options, json: { type: 'boolean', help: 'print the result as JSON on stdout (logs stay on stderr)' }, help: { type: 'boolean', short: 'h', help: 'show this help' } };
  const rows = Object.entries(all).map(([k, o]) => [`${o.short ? `-${o.short}, ` : ''}--${k}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`, o.help + (o.default !== undefined && o.type === 'string' ? ` (default ${String(o.default)})` : '')] as const);
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [a, b] of rows) lines.push(`  ${a.padEnd(w)}  ${b}`);
  if (spec.epilog) lines.push('', spec.epilog);
  return lines.join('\n') + '\n';
}

/** Parse argv for a command; throws ERR_USAGE with the reason and a pointer to --help. */
export function parseCommand<O extends Record<string, OptionSpec>>(spec: CommandSpec<O>, argv: string[]): ParsedArgs<O> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean }> = {
    json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  };
  for (const [k, o] of Object.entries(spec.options)) {
    options[k] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}), ...(o.default !== undefined ? { default: o.default } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new EdgesplitError('ERR_USAGE', `${(cause as Error).message.replace(/\. To specify a positional.*$/s, '')}. Run 'edgesplit ${spec.name} --help' for the options.`, { cause });
  }
  const values = parsed.values as ParsedArgs<O>['values'];
  if (!values.help) {
    const required = spec.positionals.filter((p) => !p.endsWith('?'));
    if (parsed.positionals.length < required.length) {
      throw new EdgesplitError('ERR_USAGE', `missing ${required.slice(parsed.positionals.length).join(', ')}. Usage: edgesplit ${spec.name} ${spec.positionals.join(' ')}; see --help.`);
    }
    if (parsed.positionals.length > spec.positionals.length) {
      throw new EdgesplitError('ERR_USAGE', `unexpected argument '${parsed.positionals[spec.positionals.length]}'. Usage: edgesplit ${spec.name} ${spec.positionals.join(' ')}; see --help.`);
    }
  }
  return { values, positionals: parsed.positionals };
}

/** A required string option, or ERR_USAGE naming it. */
export function requireOption(spec: CommandSpec, name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new EdgesplitError('ERR_USAGE', `missing --${name}. Run 'edgesplit ${spec.name} --help' for the options.`);
  return value;
}

/** Parse a number option; `what` names the expected range for the message. */
export function numberOption(spec: CommandSpec, name: string, value: string | undefined, dflt: number, check: (n: number) => boolean = Number.isFinite, what = 'a number'): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || !check(n)) throw new EdgesplitError('ERR_USAGE', `--${name} expects ${what}, got '${value}'. Run 'edgesplit ${spec.name} --help'.`);
  return n;
}

/** Where commands write: human text and logs to stderr, results to stdout. Tests pass their own. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

/** Exit code for an error: 2 for usage, 1 otherwise. */
export function exitCodeFor(e: unknown): number {
  return isEdgesplitError(e, 'ERR_USAGE') ? 2 : 1;
}

/**
 * Run a command body: parse, print --help, call `body`, and map errors to messages and exit codes.
 * `body` returns the JSON result and the human text; with --json the JSON goes to stdout.
 */
export async function runCommand<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>, argv: string[], io: Io,
  body: (args: ParsedArgs<O>) => Promise<{ json: unknown; text: string }>,
): Promise<number> {
  let json = argv.includes('--json');
  try {
    const args = parseCommand(spec, argv);
    json = args.values.json === true;
    if (args.values.help) {
      io.out(helpText(spec));
      return 0;
    }
    const result = await body(args);
    io.out(json ? JSON.stringify(result.json, null, 2) + '\n' : result.text.endsWith('\n') || result.text === '' ? result.text : result.text + '\n');
    return 0;
  } catch (e) {
    const err = isEdgesplitError(e) ? e : new EdgesplitError('ERR_INTERNAL', `${(e as Error)?.stack ?? String(e)}`, { cause: e });
    if (json) io.out(JSON.stringify({ error: err.toJSON() }, null, 2) + '\n');
    io.err(`edgesplit ${spec.name}: ${err.code}: ${err.message}\n`);
    return exitCodeFor(err);
  }
}
