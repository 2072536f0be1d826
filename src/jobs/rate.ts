// Transfer speed per job, from successive byte counts the gateway observes. Kept
// in memory and bounded: it is only a display value, recomputed after a restart.
const MAX_TRACKED = 2_000;
const MIN_INTERVAL_MS = 500;

interface Sample {
  at: number;
  bytes: number;
  rate: number;
}

export class RateTracker {
  private readonly samples = new Map<string, Sample>();

  /** Bytes per second for the job; `since` (ms) bounds the first, averaged estimate. */
  observe(jobId: string, bytes: number, since: number, now = Date.now()): number {
    const previous = this.samples.get(jobId);
    if (!previous) {
      const elapsed = Math.max(now - since, 1) / 1000;
      this.remember(jobId, { at: now, bytes, rate: bytes / elapsed });
      return bytes / elapsed;
    }
    const dt = now - previous.at;
    if (dt < MIN_INTERVAL_MS || bytes < previous.bytes) return previous.rate;
    const instant = ((bytes - previous.bytes) * 1000) / dt;
    // Smoothed, so one slow poll does not make the ETA jump.
    const rate = previous.rate > 0 ? 0.5 * previous.rate + 0.5 * instant : instant;
    this.remember(jobId, { at: now, bytes, rate });
    return rate;
  }

  forget(jobId: string): void {
    this.samples.delete(jobId);
  }

  private remember(jobId: string, sample: Sample): void {
    this.samples.delete(jobId);
    this.samples.set(jobId, sample);
    if (this.samples.size > MAX_TRACKED) {
      const oldest = this.samples.keys().next().value;
      if (oldest !== undefined) this.samples.delete(oldest);
    }
  }
}
