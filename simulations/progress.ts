// Progress of a simulation on stderr (cli-progress), one bar per scenario. Silent when stderr is not a
// terminal (CI, pipes, tests), so logs and --json output stay clean.
import cliProgress from 'cli-progress';

/** What a scenario reports its progress through. */
export interface Progress {
  /** Start a phase of `total` steps, named by `label`. */
  start(label: string, total: number): void;
  /** `steps` more steps done. */
  tick(steps?: number): void;
  /** The phase is over: clear the bar. */
  stop(): void;
}

/** A progress that draws nothing. */
export const SILENT_PROGRESS: Progress = Object.freeze({ start() {}, tick() {}, stop() {} });

/** A bar on stderr when it is a terminal, otherwise the silent progress. */
export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return SILENT_PROGRESS;
  let bar: cliProgress.SingleBar | undefined;
  return {
    start(label, total) {
      bar?.stop();
      bar = new cliProgress.SingleBar({
        stream,
        format: `${label.padEnd(28)} [{bar}] {value}/{total} | {duration_formatted} elapsed, eta {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
      }, cliProgress.Presets.shades_classic);
      bar.start(Math.max(1, total), 0);
    },
    tick(steps = 1) {
      bar?.increment(steps);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
