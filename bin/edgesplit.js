#!/usr/bin/env node
// The `edgesplit` executable: registers the TypeScript loader and hands over to cli/main.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
