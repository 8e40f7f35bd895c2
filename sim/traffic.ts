/**
 * Concurrency of one listening service (a physical BMC): how many requests it is answering at once, the most
 * it ever answered at once, and, when asked for, a timeline of every request's start and end. Tests prove
 * with it that a client keeps to one request in flight per BMC, also when several systems sit behind it.
 * Cheap enough for 1,000 BMCs: two counters per request, the timeline only when recording.
 */
import type { SimBmc } from './bmc.ts';

/** One answered request on the timeline. */
export interface RequestSpan {
  /** The BMC (system) the request named, or null for service-wide resources (root, sessions, manager). */
  bmcId: string | null;
  method: string;
  path: string;
  /** ms since epoch (fractional, from performance.timeOrigin). */
  start: number;
  end: number;
}

/** Traffic figures of one service. */
export interface TrafficFigures {
  requests: number;
  inFlight: number;
  maxInFlight: number;
}

const KEEP_SPANS = 10_000;

/** The traffic of one endpoint. */
export class Traffic {
  private figures: TrafficFigures = { requests: 0, inFlight: 0, maxInFlight: 0 };
  private spans: RequestSpan[] = [];
  private recording: boolean;

  constructor(recording = false) {
    this.recording = recording;
  }

  /** Notes a request starting; returns the function that notes its end. */
  begin(actor: SimBmc | undefined, method: string, path: string): () => void {
    const figures = this.figures;
    figures.requests += 1;
    figures.inFlight += 1;
    figures.maxInFlight = Math.max(figures.maxInFlight, figures.inFlight);
    if (actor) {
      actor.counters.inFlight += 1;
      actor.counters.maxInFlight = Math.max(actor.counters.maxInFlight, actor.counters.inFlight);
    }
    const start = performance.timeOrigin + performance.now();
    const counters = actor?.counters;
    return () => {
      figures.inFlight -= 1;
      // The BMC's counters may have been reset meanwhile; only the object that was counted is decremented.
      if (counters) counters.inFlight -= 1;
      if (!this.recording) return;
      this.spans.push({
        bmcId: actor?.id ?? null,
        method,
        path,
        start,
        end: performance.timeOrigin + performance.now(),
      });
      if (this.spans.length > KEEP_SPANS) this.spans.splice(0, this.spans.length - KEEP_SPANS);
    };
  }

  /** A copy of the figures. */
  read(): TrafficFigures {
    return { ...this.figures };
  }

  /** The recorded spans (empty unless recording), oldest first. */
  timeline(): RequestSpan[] {
    return this.spans.map((span) => ({ ...span }));
  }

  /** Starts or stops recording; clears the figures (except requests in flight) and the timeline. */
  reset(recording: boolean = this.recording): void {
    this.recording = recording;
    this.figures = { requests: 0, inFlight: this.figures.inFlight, maxInFlight: this.figures.inFlight };
    this.spans = [];
  }
}

/** The most requests that overlapped in time in a set of spans (a check independent of the live counters). */
export function maxOverlap(spans: readonly RequestSpan[]): number {
  const edges = spans.flatMap((span) => [
    { at: span.start, delta: 1 },
    { at: span.end, delta: -1 },
  ]);
  // At equal times an end comes before a start: back-to-back requests do not overlap.
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let most = 0;
  for (const edge of edges) {
    open += edge.delta;
    most = Math.max(most, open);
  }
  return most;
}
