// The floor the runtimes are measured against: the least a split inference over WebSocket can do.
// A bare ws server on loopback that runs the server half on its main thread on each message's raw
// bytes (the crossing tensors back to back, in plan order) and answers with the outputs' raw bytes,
// back to back: no frames, no checks, no queue, no worker thread, no metrics. The runtime benchmarks
// start it as a child process, as they start `edgesplit serve`, and print its URL as serve --json does.
// Usage: node --import tsx bench/floor-server.ts PLAN_DIR
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { byteLength } from '../shared/dtypes.ts';
import type { PlanManifest } from '../shared/plan.ts';
import { openOrtSession } from '../server-runtime/session.ts';

const planDir = process.argv[2];
if (!planDir) throw new Error('usage: floor-server.ts PLAN_DIR');
const plan = JSON.parse(await readFile(join(planDir, 'plan.json'), 'utf8')) as PlanManifest;
const session = await openOrtSession(await readFile(join(planDir, plan.server.file)));
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1 << 30 });
wss.on('connection', (ws) => {
  ws.on('message', (data: Buffer) => {
    let offset = 0;
    const tensors = plan.split.crossing.map((c) => {
      const n = byteLength(c.dtype, c.dims);
      const t = { name: c.name, dtype: c.dtype, dims: c.dims, data: data.subarray(offset, offset + n) };
      offset += n;
      return t;
    });
    void session.run(tensors).then((outputs) => ws.send(outputs.length === 1 ? outputs[0]!.data : Buffer.concat(outputs.map((o) => o.data))));
  });
});
wss.once('listening', () => process.stdout.write(`${JSON.stringify({ url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` })}\n`));
process.once('SIGTERM', () => {
  wss.close();
  void session.close().then(() => process.exit(0));
});
