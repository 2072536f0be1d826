/**
 * Per-session transfer progress known to this worker process, so the keep-alive
 * can report a real percentage to the source (vSphere shows it on the lease:
 * HttpNfcLeaseProgress). Process-local on purpose: a keep-alive on another worker
 * reports what it knows, which only affects the figure the source shows, not
 * whether the session stays alive.
 */
export class SessionProgressRegistry {
  private readonly sessions = new Map<string, Map<number, { done: number; total: number }>>();
  private readonly lastPercent = new Map<string, number>();

  update(sessionId: string, diskKey: number, done: number, total: number): void {
    let disks = this.sessions.get(sessionId);
    if (!disks) this.sessions.set(sessionId, (disks = new Map<number, { done: number; total: number }>()));
    disks.set(diskKey, { done, total });
  }

  /** 0-100, never decreasing for a session. */
  percent(sessionId: string): number {
    const disks = [...(this.sessions.get(sessionId)?.values() ?? [])];
    const total = disks.reduce((s, d) => s + d.total, 0);
    const done = disks.reduce((s, d) => s + d.done, 0);
    const now = total > 0 ? Math.min(99, Math.floor((done / total) * 100)) : 0;
    const percent = Math.max(now, this.lastPercent.get(sessionId) ?? 0);
    this.lastPercent.set(sessionId, percent);
    return percent;
  }

  forget(sessionId: string): void {
    this.sessions.delete(sessionId);
    this.lastPercent.delete(sessionId);
  }
}
