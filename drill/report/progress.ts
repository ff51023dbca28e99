import { formatSeconds } from "./format";

/** The part of a NodeJS.WriteStream that Progress uses (process.stdout fits). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  /** Terminal width; the status line is cut to fit, because a wrapped line cannot be redrawn with \r. */
  columns?: number;
}

/** Starts calling `tick` every `intervalMs`; returns the function that stops it. Injectable for tests. */
export type Ticker = (tick: () => void, intervalMs: number) => () => void;

/** A real interval timer, unref()'d: a forgotten stop() must not keep the process alive. */
export const intervalTicker: Ticker = (tick, intervalMs) => {
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
};

const REDRAW_MS = 250;
// Carriage return, then erase the whole line (ANSI EL 2).
const CLEAR_LINE = "\r\x1b[2K";

/**
 * Live progress of a drill on the terminal. `mark` prints permanent lines, e.g.
 * `[  12.3 s] leader changed: dr`, timed from the last `resetClock` (the fault) or from creation.
 * On a TTY a status line (`phase · elapsed`) is redrawn under them every 250 ms; elsewhere (a log
 * file, CI) only the permanent lines are written, with no control characters.
 */
export class Progress {
  private origin: number;
  private current: string | null = null;
  private stopTicker: (() => void) | null = null;
  private statusShown = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly clock: () => number = () => performance.now(),
    private readonly ticker: Ticker = intervalTicker,
  ) {
    this.origin = clock();
  }

  /** Times from now on count from this moment: call it when the fault is injected. */
  resetClock(): void {
    this.origin = this.clock();
  }

  /** What the drill is doing now, e.g. "region-loss run 2/5 · waiting for the client to switch". */
  phase(text: string): void {
    this.current = text;
    if (this.stream.isTTY !== true) return;
    if (this.stopTicker === null) this.stopTicker = this.ticker(() => this.redraw(), REDRAW_MS);
    this.redraw();
  }

  /** A line that stays, e.g. "leader changed: dr". */
  mark(text: string): void {
    const line = `[${formatSeconds(this.clock() - this.origin).padStart(8)}] ${text}\n`;
    if (this.stream.isTTY !== true) {
      this.stream.write(line);
      return;
    }
    this.stream.write(this.statusShown ? CLEAR_LINE + line : line);
    this.statusShown = false;
    if (this.current !== null) this.redraw();
  }

  /** Stops the timer and removes the status line; the permanent lines stay. */
  stop(): void {
    if (this.stopTicker !== null) this.stopTicker();
    this.stopTicker = null;
    this.current = null;
    if (this.statusShown) this.stream.write(CLEAR_LINE);
    this.statusShown = false;
  }

  private redraw(): void {
    if (this.current === null) return;
    let status = `${this.current} · ${formatSeconds(this.clock() - this.origin)}`;
    // Leave the last column free: writing into it makes some terminals wrap.
    const width = this.stream.columns;
    if (width !== undefined && width > 1 && status.length > width - 1) status = status.slice(0, width - 1);
    this.stream.write(CLEAR_LINE + status);
    this.statusShown = true;
  }
}
