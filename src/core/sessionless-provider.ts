// What a source that reads its disks from snapshots (AWS, Azure) says about export
// sessions: it has none. The workflow asks a provider for one only when a disk is
// read as a stream (vSphere's NFC lease); these answers keep a cloud provider from
// pretending otherwise, and keep cleanup's "release the session" a no-op.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from './errors.js';
import type { ExportSession, ExportTarget, SessionOutcome, SessionState } from './source-provider.js';

export abstract class SessionlessProvider {
  /** Why there is no session, e.g. "AWS disks are read from EBS snapshots, no export session". */
  protected abstract readonly noSession: string;

  openExportSession(_target: ExportTarget): Promise<ExportSession> {
    return Promise.reject(ApplicationFailure.create({ type: ErrorType.NotSupported, message: this.noSession, nonRetryable: true }));
  }

  /** There is none to be in: 'done'. */
  sessionState(_sessionId: string): Promise<SessionState> {
    return Promise.resolve('done');
  }

  keepSessionAlive(_sessionId: string, _percent: number): Promise<void> {
    return Promise.reject(ApplicationFailure.create({ type: ErrorType.NotSupported, message: this.noSession, nonRetryable: true }));
  }

  /** Nothing to release. */
  releaseSession(_sessionId: string, _outcome: SessionOutcome): Promise<void> {
    return Promise.resolve();
  }
}
