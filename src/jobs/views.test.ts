// The job shape the original daemon's clients decode: Go's hyperctl (time.Duration
// from an integer), the Python SDK (enums built from definition.export_method and
// format, result.success required), next to the fields our CLIs read.
import { describe, expect, it } from 'vitest';
import type { ExportResult } from '../core/export-contract.js';
import type { JobDefinition } from './job-schemas.js';
import { definitionView } from './definition.js';
import { jobView, progressView, resultView } from './views.js';

const result: ExportResult = {
  vmName: 'web01',
  method: 'datastore',
  outputDir: '/exports/web01',
  ovfPath: '/exports/web01/web01.ovf',
  manifestPath: '/exports/web01/web01.mf',
  files: [
    { name: 'web01.ovf', sizeBytes: 100, sha256: 'a' },
    { name: 'web01-disk1.vmdk', sizeBytes: 4096, sha256: 'b' },
  ],
  totalSize: 4196,
  durationMs: 1500.4,
};

const legacyDefinition = {
  id: 'j1',
  name: 'web01',
  vm_path: '/DC0/vm/web01',
  output_path: 'web01',
  format: 'ovf',
  export_method: 'datastore',
  provider: 'vsphere',
  options: { parallel_downloads: 4, remove_cdrom: false, snapshot: false, power_off: false, shutdown_timeout_seconds: 300 },
  created_at: '2026-12-01T00:00:00.000Z',
} as unknown as JobDefinition;

describe('job views in the original vocabulary', () => {
  it('result.duration is integer nanoseconds; seconds, success, export_method and output_files beside it', () => {
    const view = resultView(result);
    expect(view.duration).toBe(1_500_400_000);
    expect(Number.isInteger(view.duration)).toBe(true);
    expect(view).toMatchObject({ duration_seconds: 1.5, success: true, export_method: 'datastore', method: 'datastore' });
    expect(view.output_files).toEqual(['/exports/web01/web01.ovf', '/exports/web01/web01-disk1.vmdk']);
    expect(view.output_files).toEqual(view.files);
  });

  it('result.kept_snapshot and since_snapshot, when the export names them, so a client can chain incremental exports', () => {
    const view = resultView({ ...result, keptSnapshot: 'vol-0aaa1111=snap-0bbb2222,vol-0ccc3333=snap-0ddd4444', sinceSnapshot: 'vol-0aaa1111=snap-0eee5555,vol-0ccc3333=snap-0fff6666' });
    expect(view).toMatchObject({ kept_snapshot: 'vol-0aaa1111=snap-0bbb2222,vol-0ccc3333=snap-0ddd4444', since_snapshot: 'vol-0aaa1111=snap-0eee5555,vol-0ccc3333=snap-0fff6666' });
    const job = jobView({ definition: legacyDefinition, status: 'completed', startedAt: new Date(0), closedAt: new Date(2000), result: { ...result, keptSnapshot: 'snap-0bbb2222' } });
    expect(job.result).toMatchObject({ kept_snapshot: 'snap-0bbb2222' });
    expect(job.result).not.toHaveProperty('since_snapshot');
    // An export that names neither (vSphere, or AWS without keep_snapshots) shows neither.
    expect(resultView(result)).not.toHaveProperty('kept_snapshot');
    expect(resultView(result)).not.toHaveProperty('since_snapshot');
  });

  it('a definition stored before `method` existed reads in both vocabularies', () => {
    expect(definitionView(legacyDefinition)).toMatchObject({ export_method: 'web', method: 'datastore', output_dir: 'web01' });
    const auto = definitionView({ ...legacyDefinition, export_method: 'auto' } as unknown as JobDefinition);
    expect(auto).toMatchObject({ export_method: '', method: 'auto' });
    const ovf = definitionView({ ...legacyDefinition, export_method: 'ovf' } as unknown as JobDefinition);
    expect(ovf).toMatchObject({ export_method: 'govc', method: 'ovf' });
    // A client's own original value is kept.
    const sent = { ...legacyDefinition, export_method: 'ovftool', method: 'auto', output_dir: 'web01' } as JobDefinition;
    expect(definitionView(sent)).toBe(sent);
    const job = jobView({ definition: legacyDefinition, status: 'completed', startedAt: new Date(0), closedAt: new Date(2000), result });
    expect(job.definition.export_method).toBe('web');
    expect(job.result?.duration).toBe(1_500_400_000);
  });

  it('progress carries the original names beside ours', () => {
    const progress = progressView({
      status: 'running',
      query: {
        phase: 'transferring',
        method: 'ovf',
        disks: [{ key: 1, fileName: 'd1.vmdk', sizeBytes: 4 * 1024 * 1024, bytesDone: 1024 * 1024, state: 'transferring', attempts: 1 }],
        startedAt: '',
        updatedAt: '',
      },
      heartbeats: [],
      rate: 2 * 1024 * 1024,
      elapsedSeconds: 12.3456,
    });
    expect(progress).toMatchObject({
      bytes_downloaded: 1024 * 1024,
      bytes_transferred: 1024 * 1024,
      speed_mbps: 2,
      transfer_rate_mbps: 2,
      export_method: 'ovf',
      method: 'ovf',
      elapsed_seconds: 12.346,
      estimated_remaining: '2s',
    });
  });
});
