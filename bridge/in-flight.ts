/**
 * A bound on requests in flight: at most `limit` holders at once, the others wait their turn in arrival order.
 * The bridge's client puts the writes of a host's other objects (HardwareData, the firmware objects) under one,
 * so a burst of them cannot fill the apiserver while the status writes wait behind them (bridge/kube.ts).
 */
export class InFlightLimit {
  readonly #limit: number;
  #held = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, Math.floor(limit));
  }

  /** Waits for a place; the function it returns gives the place back (once, however often it is called). */
  async acquire(): Promise<() => void> {
    if (this.#held < this.#limit) this.#held++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve)); // the place is handed over, held stays
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#held--;
    };
  }

  /** Holders now, and callers waiting (for metrics and tests). */
  get inFlight(): number {
    return this.#held;
  }
  get queued(): number {
    return this.#waiting.length;
  }
}
