// Watches one export from the outside while faults hit it: the pending transfer
// activities' attempts and heartbeats (describe), the partial files on disk, and
// the failures the retries report. Tolerates Temporal being down (a restart is one
// of the faults): a failed poll is simply skipped.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TransferDiskInput } from '../../../src/activities/types.js';
import type { TransferHeartbeat } from '../../../src/core/export-contract.js';

export interface LiveTransfer {
  activityId: string;
  attempt: number;
  diskKey: number;
  bytesDone: number;
  sizeBytes: number;
}

export interface AttemptRecord {
  activityId: string;
  attempt: number;
  /** Heartbeat offset when this attempt was first seen: the checkpoint it was handed. */
  firstBytes: number;
  /** Largest partial file seen while this attempt was current: bytes written to the sink. */
  maxWritten: number;
  /** Largest heartbeat offset of this attempt. */
  maxBeat: number;
}

export interface SeenFailure {
  type: string;
  message: string;
  at: number;
}

export class ExportObserver {
  readonly attempts = new Map<number, AttemptRecord[]>();
  readonly failures: SeenFailure[] = [];
  live: LiveTransfer[] = [];
  /** Workflow execution status at the last successful poll (RUNNING, COMPLETED, ...). */
  status: string | undefined;
  /** activityId -> disk of the transferDisk activity (from the scheduled event's input). */
  private readonly scheduled = new Map<string, { diskKey: number; fileName: string }>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  pollErrors = 0;

  /**
   * Bytes transferred twice, per disk: every time a disk's partial file shrinks
   * (a retry truncates it to its checkpoint, or to 0 when the source ignored
   * Range), the bytes cut off will be fetched and written again. Sampled every
   * poll (300 ms) and right after each fault; the resume point is the new
   * attempt's heartbeat (its checkpoint) when known, else the size seen.
   */
  readonly bytesTwice = new Map<number, number>();
  private readonly partialSeen = new Map<number, { last: number; high: number }>();

  constructor(
    private readonly handle: WorkflowHandle,
    private readonly outDir: string,
  ) {}

  totalBytesTwice(): number {
    let total = 0;
    for (const v of this.bytesTwice.values()) total += v;
    // Disks with no partial file of their own (written in place inside an OVA):
    // estimated from heartbeats, what an attempt had reported beyond where the
    // next one resumed (bytes written after its last heartbeat are not seen).
    for (const [diskKey, records] of this.attempts) {
      if (this.partialSeen.has(diskKey)) continue;
      for (let i = 1; i < records.length; i++) total += Math.max(0, records[i - 1]!.maxBeat - records[i]!.firstBytes);
    }
    return total;
  }

  start(everyMs = 300): void {
    this.timer = setInterval(() => {
      if (this.polling || this.stopped) return;
      this.polling = this.poll()
        .catch(() => {
          this.pollErrors++;
        })
        .finally(() => (this.polling = undefined));
    }, everyMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.polling) await this.polling;
  }

  /** One poll now (also used right after a fault, so the bytes written at the fault are caught). */
  async poll(): Promise<void> {
    this.sampleFiles();
    const description = await this.handle.describe();
    this.status = description.status.name;
    const live: LiveTransfer[] = [];
    for (const a of description.raw.pendingActivities ?? []) {
      if (a.activityType?.name !== 'transferDisk') continue;
      const activityId = a.activityId ?? '';
      if (!this.scheduled.has(activityId)) await this.loadScheduled();
      const disk = this.scheduled.get(activityId);
      const payload = a.heartbeatDetails?.payloads?.[0];
      const beat = payload ? defaultPayloadConverter.fromPayload<TransferHeartbeat>(payload) : undefined;
      const diskKey = disk?.diskKey ?? beat?.diskKey;
      if (diskKey === undefined) continue;
      const t: LiveTransfer = {
        activityId,
        attempt: a.attempt ?? 1,
        diskKey,
        bytesDone: beat?.bytesDone ?? 0,
        sizeBytes: beat?.sizeBytes ?? 0,
      };
      live.push(t);
      const records = this.attempts.get(diskKey) ?? [];
      this.attempts.set(diskKey, records);
      const last = records.at(-1);
      if (!last || last.activityId !== t.activityId || last.attempt !== t.attempt) {
        records.push({ activityId, attempt: t.attempt, firstBytes: t.bytesDone, maxWritten: 0, maxBeat: t.bytesDone });
      }
      const current = records.at(-1)!;
      current.maxBeat = Math.max(current.maxBeat, t.bytesDone);
      const failure = a.lastFailure;
      if (failure?.message) {
        const type = failure.applicationFailureInfo?.type ?? failure.cause?.applicationFailureInfo?.type ?? 'unknown';
        const prev = this.failures.at(-1);
        if (!prev || prev.message !== failure.message) this.failures.push({ type, message: failure.message, at: Date.now() });
      }
    }
    this.live = live;
    this.sampleFiles();
  }

  /** Partial sizes attributed to the current attempt of each disk. */
  private sampleFiles(): void {
    if (!existsSync(this.outDir)) return;
    let names: string[];
    try {
      names = readdirSync(this.outDir);
    } catch {
      return;
    }
    for (const { diskKey, fileName } of this.scheduled.values()) {
      const partial = `.${fileName}.partial`;
      if (!names.includes(partial)) continue;
      let size: number;
      try {
        size = statSync(join(this.outDir, partial)).size;
      } catch {
        continue;
      }
      const current = this.attempts.get(diskKey)?.at(-1);
      if (current && size > current.maxWritten) current.maxWritten = size;
      const seen = this.partialSeen.get(diskKey) ?? { last: 0, high: 0 };
      if (size < seen.last) {
        const beat = this.live.find((t) => t.diskKey === diskKey)?.bytesDone;
        const resumedAt = beat !== undefined ? Math.min(beat, size) : size;
        this.bytesTwice.set(diskKey, (this.bytesTwice.get(diskKey) ?? 0) + Math.max(0, seen.high - resumedAt));
        seen.high = size;
      }
      seen.last = size;
      seen.high = Math.max(seen.high, size);
      this.partialSeen.set(diskKey, seen);
    }
  }

  private async loadScheduled(): Promise<void> {
    const history = await this.handle.fetchHistory();
    for (const event of history.events ?? []) {
      const s = event.activityTaskScheduledEventAttributes;
      if (s?.activityType?.name !== 'transferDisk' || !s.activityId) continue;
      const input = defaultPayloadConverter.fromPayload<TransferDiskInput>(s.input!.payloads![0]!);
      this.scheduled.set(s.activityId, { diskKey: input.diskKey, fileName: input.fileName });
    }
  }

  /** The fraction done of the most advanced live transfer, and a token that changes whenever any heartbeat moves. */
  progress(): { fraction: number; token: string } {
    let fraction = 0;
    for (const t of this.live) if (t.sizeBytes > 0) fraction = Math.max(fraction, t.bytesDone / t.sizeBytes);
    return { fraction, token: this.live.map((t) => `${t.activityId}/${t.attempt}/${t.bytesDone}`).join(',') };
  }
}

export { activityResults } from '../../harness/history.js';
