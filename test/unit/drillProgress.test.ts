import { describe, expect, it } from "vitest";
import { Progress, type Ticker } from "../../drill/report/progress";

function fakeStream(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns, write: (text: string) => writes.push(text) } };
}

/** A clock the test moves by hand, and a ticker that runs only when the test says so. */
function fakeTime() {
  const time = { now: 1_000 };
  const ticks: (() => void)[] = [];
  let stopped = 0;
  const ticker: Ticker = (tick, intervalMs) => {
    expect(intervalMs).toBe(250);
    ticks.push(tick);
    return () => stopped++;
  };
  return { time, clock: () => time.now, ticker, ticks, stopped: () => stopped };
}

describe("Progress", () => {
  it("writes only the permanent lines, without control characters, when not on a TTY", () => {
    const { writes, stream } = fakeStream(false);
    const t = fakeTime();
    const progress = new Progress(stream, t.clock, t.ticker);
    progress.phase("region-loss run 2/5 · waiting for the client to switch");
    t.time.now += 500;
    progress.resetClock();
    t.time.now += 12_345;
    progress.mark("leader changed: dr");
    progress.stop();
    expect(writes.join("")).toBe("[  12.3 s] leader changed: dr\n");
    expect(writes.join("")).not.toContain("\r");
    expect(writes.join("")).not.toContain("\x1b");
    expect(t.ticks).toHaveLength(0); // no timer at all: nothing to redraw
  });

  it("redraws one status line on a TTY and keeps the marks above it", () => {
    const { writes, stream } = fakeStream(true);
    const t = fakeTime();
    const progress = new Progress(stream, t.clock, t.ticker);
    progress.phase("region-loss run 2/5 · waiting for the client to switch");
    expect(writes.pop()).toBe("\r\x1b[2Kregion-loss run 2/5 · waiting for the client to switch · 0.0 s");
    t.time.now += 34_500;
    t.ticks[0]();
    expect(writes.pop()).toBe("\r\x1b[2Kregion-loss run 2/5 · waiting for the client to switch · 34.5 s");
    progress.mark("client switched: B");
    expect(writes.splice(0)).toEqual([
      "\r\x1b[2K[  34.5 s] client switched: B\n",
      "\r\x1b[2Kregion-loss run 2/5 · waiting for the client to switch · 34.5 s",
    ]);
    progress.phase("checking invariants");
    expect(t.ticks).toHaveLength(1); // one timer, however many phases
    progress.stop();
    expect(t.stopped()).toBe(1);
    expect(writes.pop()).toBe("\r\x1b[2K");
  });

  it("cuts the status line to the terminal width", () => {
    const { writes, stream } = fakeStream(true, 20);
    const t = fakeTime();
    new Progress(stream, t.clock, t.ticker).phase("a very long phase description indeed");
    expect(writes.pop()).toBe("\r\x1b[2Ka very long phase d");
  });

  it("uses a real, unref'd timer by default that stop() clears", () => {
    const { stream } = fakeStream(true);
    const progress = new Progress(stream);
    progress.phase("waiting");
    progress.stop();
    progress.stop(); // twice is harmless
  });
});
