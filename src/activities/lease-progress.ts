/**
 * Per-lease transfer progress known to this worker process, so the keep-alive can
 * report a real percentage to vCenter (HttpNfcLeaseProgress). Process-local on
 * purpose: a keep-alive on another worker reports what it knows, which only
 * affects the figure vCenter shows, not whether the lease stays alive.
 */
export class LeaseProgressRegistry {
  private readonly leases = new Map<string, Map<number, { done: number; total: number }>>();
  private readonly lastPercent = new Map<string, number>();

  update(leaseId: string, diskKey: number, done: number, total: number): void {
    let disks = this.leases.get(leaseId);
    if (!disks) this.leases.set(leaseId, (disks = new Map<number, { done: number; total: number }>()));
    disks.set(diskKey, { done, total });
  }

  /** 0-100, never decreasing for a lease. */
  percent(leaseId: string): number {
    const disks = [...(this.leases.get(leaseId)?.values() ?? [])];
    const total = disks.reduce((s, d) => s + d.total, 0);
    const done = disks.reduce((s, d) => s + d.done, 0);
    const now = total > 0 ? Math.min(99, Math.floor((done / total) * 100)) : 0;
    const percent = Math.max(now, this.lastPercent.get(leaseId) ?? 0);
    this.lastPercent.set(leaseId, percent);
    return percent;
  }

  forget(leaseId: string): void {
    this.leases.delete(leaseId);
    this.lastPercent.delete(leaseId);
  }
}
