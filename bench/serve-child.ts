// `edgesplit serve` in a child process for the benchmarks, so the server has a process of its own as
// in production: start it on a free port and read its URL from the first --json line.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A running `edgesplit serve` child: its URL, its pid, and a stop that sends SIGTERM and waits for exit. */
export interface ServeChild {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/** Start `edgesplit serve --port 0 --json` with `args` (plans, workers, queue) in a child process. */
export async function startServeChild(args: readonly string[]): Promise<ServeChild> {
  const bin = fileURLToPath(new URL('../bin/edgesplit.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'serve', ...args, '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === 'object' && parsed !== null && 'url' in parsed && typeof parsed.url === 'string') resolve(parsed.url);
        else reject(new Error(`unexpected first line from edgesplit serve: ${line}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`edgesplit serve exited with ${code}`)));
  });
  return {
    url,
    pid: child.pid,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}
