#!/usr/bin/env -S node --initial-old-space-size=64
// The `edgesplit` executable: registers the TypeScript loader and hands over to cli/main.ts.
// NOTE: the flag on the first line gives V8's old generation room from the start. A server moves
// megabytes per request through ArrayBuffers, and V8 counts them against a small heap's tight
// allocation limit, so without it `edgesplit serve` ran a full collection every few dozen PP-OCR
// requests: with it, about 0.04 more of raw session.run throughput (docs/server.md). Run
// through `node bin/edgesplit.js`, give the flag yourself: `node --initial-old-space-size=64 ...`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
