import { ExecResult } from "../process";

/** A process started inside a host's network namespace (but on this machine's filesystem). */
export class LabProcess {
  readonly exited: Promise<ExecResult>;
  private done = false;

  constructor(
    readonly pid: number,
    exited: Promise<ExecResult>,
  ) {
    this.exited = exited.finally(() => {
      this.done = true;
    });
  }

  get running(): boolean {
    return !this.done;
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.done) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // Already gone between the check and the signal.
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5000): Promise<ExecResult> {
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
