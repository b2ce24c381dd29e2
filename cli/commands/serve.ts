// `edgesplit serve --plan DIR [--plan ...]`: run the server halves of plans over WebSocket until
// SIGINT or SIGTERM, then shut down gracefully. Logs on stderr; the listening address first.
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { type CommandSpec, type Io, numberOption, runCommand } from '../args.ts';
import { startServer, SERVER_DEFAULTS, type ServerOptions } from '../../server-runtime/server.ts';
import { loadTokens } from '../../server-runtime/auth.ts';
import { EdgesplitError } from '../../shared/errors.ts';

export const SPEC = {
  name: 'serve',
  summary: 'Serve the server half of one or more plans over WebSocket (ws or wss), with health and metrics over HTTP on the same port.',
  positionals: [],
  options: {
    plan: { type: 'string', multiple: true, value: 'DIR', help: 'a plan directory or its plan.json (repeatable; each plan is served under its planId)' },
    port: { type: 'string', value: 'PORT', help: 'TCP port; 0 picks a free one', default: String(SERVER_DEFAULTS.port) },
    host: { type: 'string', value: 'HOST', help: 'address to listen on; 0.0.0.0 for every interface', default: SERVER_DEFAULTS.host },
    workers: { type: 'string', value: 'N', help: `sessions per plan, each in its own thread (default: the number of cores, ${availableParallelism()} here); 0: one session on the main thread, the least latency for one device, but sockets wait while it runs` },
    queue: { type: 'string', value: 'N', help: 'requests per plan that may wait for a session; beyond them requests get ERR_OVERLOADED at once', default: String(SERVER_DEFAULTS.queue) },
    tokens: { type: 'string', value: 'FILE', help: 'require bearer tokens: JSON { "devices": { "<deviceId>": "<token>" }, "shared": "<token>" }' },
    cert: { type: 'string', value: 'FILE', help: 'PEM certificate: serve wss:// (with --key)' },
    key: { type: 'string', value: 'FILE', help: 'PEM private key of --cert' },
    'heartbeat-ms': { type: 'string', value: 'MS', help: 'WebSocket ping interval; a peer silent for two intervals is dropped', default: String(SERVER_DEFAULTS.heartbeatMs) },
    'grace-ms': { type: 'string', value: 'MS', help: 'on SIGINT/SIGTERM, how long requests in flight may finish before the rest are refused', default: String(SERVER_DEFAULTS.shutdownGraceMs) },
    'max-unread-bytes': { type: 'string', value: 'BYTES', help: 'answers a device may leave unread before its new requests get ERR_OVERLOADED', default: String(SERVER_DEFAULTS.maxUnreadBytes) },
    restart: { type: 'boolean', help: "on SIGINT/SIGTERM close connections with 1012 'service restart' (a new server follows) instead of 1001 'going away'" },
  },
  epilog: [
    'Examples:',
    '  edgesplit serve --plan out/mnist-plan',
    '  edgesplit serve --plan a/plan.json --plan b/plan.json --host 0.0.0.0 --workers 4 --tokens tokens.json --cert cert.pem --key key.pem',
    '',
    'HTTP on the same port: GET /health/live, /health/ready (503 until loaded and while stopping), /metrics (Prometheus).',
    'With --json, stdout gets one JSON line when listening ({ url, port, plans }) and a summary when stopped.',
    'See docs/server.md and docs/protocol.md.',
  ].join('\n'),
} as const satisfies CommandSpec;

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    const missing = typeof cause === 'object' && cause !== null && 'code' in cause && cause.code === 'ENOENT';
    throw new EdgesplitError(missing ? 'ERR_FILE_NOT_FOUND' : 'ERR_FILE_READ', `could not read the ${what} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Resolves with the first SIGINT or SIGTERM; a second one while stopping exits at once with code 1. */
function stopSignal(io: Io): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        io.err(`edgesplit serve: ${signal} again: exiting without waiting for requests in flight\n`);
        process.exit(1);
      }
      stopping = true;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** `edgesplit serve`: returns the exit code once the server has stopped. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(SPEC, argv, io, async ({ values }) => {
    const plans = values.plan ?? [];
    if (plans.length === 0) throw new EdgesplitError('ERR_USAGE', "missing --plan. Run 'edgesplit serve --help' for the options.");
    if ((values.cert === undefined) !== (values.key === undefined)) throw new EdgesplitError('ERR_USAGE', "--cert and --key go together: give both for wss, or neither. Run 'edgesplit serve --help'.");
    const int = (name: 'port' | 'workers' | 'queue' | 'heartbeat-ms' | 'grace-ms' | 'max-unread-bytes', dflt: number, min: number): number =>
      numberOption(SPEC, name, values[name], dflt, (n) => Number.isSafeInteger(n) && n >= min && (name !== 'port' || n <= 65535), name === 'port' ? 'an integer in [0, 65535]' : `an integer >= ${min}`);
    const options: ServerOptions = {
      plans,
      host: values.host ?? SERVER_DEFAULTS.host,
      port: int('port', SERVER_DEFAULTS.port, 0),
      workers: int('workers', availableParallelism(), 0),
      queue: int('queue', SERVER_DEFAULTS.queue, 0),
      heartbeatMs: int('heartbeat-ms', SERVER_DEFAULTS.heartbeatMs, 1),
      shutdownGraceMs: int('grace-ms', SERVER_DEFAULTS.shutdownGraceMs, 0),
      maxUnreadBytes: int('max-unread-bytes', SERVER_DEFAULTS.maxUnreadBytes, 1),
      log: (line) => io.err(`edgesplit serve: ${line}\n`),
      ...(values.tokens !== undefined ? { tokens: await loadTokens(values.tokens) } : {}),
      ...(values.cert !== undefined && values.key !== undefined ? { tls: { cert: await readPem(values.cert, 'certificate'), key: await readPem(values.key, 'private key') } } : {}),
    };
    const stopped = stopSignal(io);
    const server = await startServer(options);
    const plansServed = server.plans.map((p) => p.planId);
    if (values.json) io.out(JSON.stringify({ url: server.url, port: server.port, plans: plansServed }) + '\n');
    else io.err(`edgesplit serve: listening on ${server.url} (health: ${server.url.replace(/^ws/, 'http')}/health/ready, metrics: /metrics)\n`);
    const signal = await stopped;
    io.err(`edgesplit serve: ${signal}: stopping\n`);
    await server.close({ restart: values.restart === true });
    const m = server.metrics();
    const requests = Object.values(m.requests).reduce((a, byOutcome) => a + Object.values(byOutcome).reduce((x, y) => x + y, 0), 0);
    return {
      json: { stopped: signal, url: server.url, plans: plansServed, requests: m.requests },
      text: `edgesplit serve: stopped on ${signal} after ${requests} request(s)`,
    };
  });
}
