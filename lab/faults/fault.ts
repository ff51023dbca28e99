import { setTimeout as sleep } from "node:timers/promises";
import type { FaultTarget } from "./target";

/**
 * A fault is a small value: what it does, in a report's words, and how to inject it into a booted
 * system. Injecting returns the way back; healing twice heals once, so a drill can heal in a
 * `finally` whatever happened before. Faults compose (`together`, `flapping`), and the drill, the
 * lab tests and the benchmarks all inject the same ones.
 */
export interface Fault {
  readonly description: string;
  inject(target: FaultTarget): Promise<Injected>;
}

export interface Injected {
  heal(): Promise<void>;
}

/** A fault from its two halves; `inject` returns the heal that undoes exactly what it did. */
export function fault(
  description: string,
  inject: (target: FaultTarget) => Promise<() => Promise<void>>,
): Fault {
  return {
    description,
    async inject(target) {
      const heal = await inject(target);
      let healing: Promise<void> | undefined;
      return { heal: () => (healing ??= heal()) };
    },
  };
}

/** Several faults at once (a partition and then the loss of a region, say); healed in reverse order. */
export function together(...faults: readonly Fault[]): Fault {
  if (faults.length === 0) throw new Error("together(): expected at least one fault");
  return fault(faults.map((f) => f.description).join(", then "), async (target) => {
    const injected: Injected[] = [];
    try {
      for (const f of faults) injected.push(await f.inject(target));
    } catch (error) {
      await healAll(injected);
      throw error;
    }
    return () => healAll(injected);
  });
}

async function healAll(injected: readonly Injected[]): Promise<void> {
  const failures: unknown[] = [];
  for (const i of [...injected].reverse()) await i.heal().catch((error: unknown) => failures.push(error));
  if (failures.length > 0) throw failures[0];
}

export interface Flapping {
  downMs: number;
  upMs: number;
  /** How long the flapping lasts; injecting returns when it is over, with the fault healed. */
  forMs: number;
}

/** `inner` injected and healed in turn: short losses the system must ride out. */
export function flapping(inner: Fault, timing: Flapping): Fault {
  for (const [name, value] of Object.entries(timing))
    if (!Number.isInteger(value) || value <= 0)
      throw new Error(`flapping ${name}: received ${value}; expected a positive whole number of ms`);
  const s = (ms: number) => `${ms / 1000} s`;
  return fault(
    `${inner.description}, flapping ${s(timing.downMs)} down / ${s(timing.upMs)} up for ${s(timing.forMs)}`,
    async (target) => {
      const until = Date.now() + timing.forMs;
      while (Date.now() < until) {
        const injected = await inner.inject(target);
        try {
          await sleep(timing.downMs);
        } finally {
          await injected.heal();
        }
        await sleep(timing.upMs);
      }
      return async () => undefined;
    },
  );
}
