// Tests of `edgesplit serve`: usage errors in-process, and the real command in a child process that
// serves a request and shuts down gracefully on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from '../../cli/commands/serve.ts';
import { CLOSE_CODES, wireTensor } from '../../shared/protocol.ts';
import { TestClient } from './client.ts';
import { mlpHalves, writePlanDir, removeDirs } from './fixtures.ts';

function captureIo(): { out: string[]; err: string[]; io: { out: (t: string) => void; err: (t: string) => void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t) => void out.push(t), err: (t) => void err.push(t) } };
}

test('BAD CALL - serve without --plan, with --cert but no --key, or a bad --workers exits 2 with ERR_USAGE', async () => {
  const cases: Array<[string[], string]> = [
    [[], "edgesplit serve: ERR_USAGE: missing --plan. Run 'edgesplit serve --help' for the options.\n"],
    [['--plan', 'x', '--cert', 'c.pem'], "edgesplit serve: ERR_USAGE: --cert and --key go together: give both for wss, or neither. Run 'edgesplit serve --help'.\n"],
    [['--plan', 'x', '--workers', '1.5'], "edgesplit serve: ERR_USAGE: --workers expects an integer >= 0, got '1.5'. Run 'edgesplit serve --help'.\n"],
    [['--plan', 'x', '--port', '70000'], "edgesplit serve: ERR_USAGE: --port expects an integer in [0, 65535], got '70000'. Run 'edgesplit serve --help'.\n"],
  ];
  for (const [argv, message] of cases) {
    const c = captureIo();
    assert.equal(await run(argv, c.io), 2, argv.join(' '));
    assert.deepEqual(c.err, [message]);
  }
  const help = captureIo();
  assert.equal(await run(['--help'], help.io), 0);
  assert.match(help.out.join(''), /^Usage: edgesplit serve \[options\]/);
  assert.match(help.out.join(''), /--queue N +requests per plan that may wait/);
});

for (const workers of ['1', '0']) test(`edgesplit serve --workers ${workers}: prints where it listens, serves a device, and on SIGTERM closes with 1001 and exits 0`, async () => {
  const plan = await writePlanDir('mlp', mlpHalves());
  const bin = fileURLToPath(new URL('../../bin/edgesplit.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'serve', '--plan', plan.dir, '--port', '0', '--workers', workers, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const firstLine = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const nl = stdout.indexOf('\n');
        if (nl >= 0) resolve(stdout.slice(0, nl));
      });
      void exited.then((code) => reject(new Error(`serve exited with ${code} before listening: ${stderr}`)));
    });
    const listening: unknown = JSON.parse(firstLine);
    assert.ok(typeof listening === 'object' && listening !== null && 'url' in listening && typeof listening.url === 'string', firstLine);
    assert.match(listening.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual('plans' in listening ? listening.plans : undefined, ['mlp']);
    const c = await TestClient.connect(listening.url);
    assert.equal((await c.hello({ planId: 'mlp', serverSha256: plan.serverSha256 })).type, 'hello-ok');
    c.send({ type: 'infer', requestId: 1, tensors: [wireTensor('h', 'float32', [1, 16], new Float32Array(16).fill(1))] });
    assert.equal((await c.next()).type, 'result');
    child.kill('SIGTERM');
    assert.deepEqual(await c.closedWithin(), { code: CLOSE_CODES.GOING_AWAY, reason: 'going away' });
    assert.equal(await exited, 0, stderr);
    const summary: unknown = JSON.parse(stdout.slice(firstLine.length + 1));
    assert.deepEqual(summary, { stopped: 'SIGTERM', url: listening.url, plans: ['mlp'], requests: { mlp: { ok: 1 } } });
    assert.match(stderr, /edgesplit serve: device 'test-device' \(127\.0\.0\.1:\d+\) connected to plan 'mlp'/);
    assert.match(stderr, /edgesplit serve: SIGTERM: stopping/);
    assert.match(stderr, workers === '0' ? /\(1 session on the main thread and a queue of 32 per plan\)/ : /\(1 session\(s\) and a queue of 32 per plan\)/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await removeDirs(plan);
  }
});
