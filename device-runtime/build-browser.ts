// Builds the browser device runtime: bundles device-runtime/browser.ts with esbuild into one ES module and
// copies onnxruntime-web's wasm file next to it. Run: npm run build:browser (writes out/browser/).
import { build } from 'esbuild';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The onnxruntime-web files the wasm backend loads at run time (single-threaded, SIMD build). */
export const ORT_WASM_FILES = ['ort-wasm-simd-threaded.wasm'] as const;

/** node_modules/onnxruntime-web/dist/, where the wasm files are; a static server may serve it directly. */
export function ortWasmDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
}

/** Options of `buildBrowserBundle`. */
export interface BrowserBuildOptions {
  /** Where to write the bundle; default out/browser/edgesplit-device.js in the edgesplit folder. */
  outfile?: string;
  /** Minify (default true). */
  minify?: boolean;
  /** Copy the wasm files next to the bundle (default true). */
  copyWasm?: boolean;
}

/** Bundle the browser runtime. Returns the bundle's path and size. */
export async function buildBrowserBundle(options: BrowserBuildOptions = {}): Promise<{ outfile: string; bytes: number; wasmFiles: string[] }> {
  const outfile = resolve(options.outfile ?? fileURLToPath(new URL('../out/browser/edgesplit-device.js', import.meta.url)));
  await mkdir(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [fileURLToPath(new URL('./browser.ts', import.meta.url))],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    legalComments: 'linked',
    logLevel: 'silent',
  });
  const wasmFiles: string[] = [];
  if (options.copyWasm ?? true) {
    for (const file of ORT_WASM_FILES) {
      const to = join(dirname(outfile), file);
      await copyFile(join(ortWasmDir(), file), to);
      wasmFiles.push(to);
    }
  }
  return { outfile, bytes: (await stat(outfile)).size, wasmFiles };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = process.argv[2];
  const result = await buildBrowserBundle(out ? { outfile: out } : {});
  process.stdout.write(`wrote ${result.outfile} (${(result.bytes / 1024).toFixed(0)} KiB)${result.wasmFiles.length ? ` and ${result.wasmFiles.join(', ')}` : ''}\n`);
}
