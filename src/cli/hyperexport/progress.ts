// Live progress of the exports hyperexport started. On a terminal: one bar per
// disk with its own rate and ETA, redrawn in place. Elsewhere (a pipe, a log
// file): one plain line per export every few seconds or when its state changes,
// with no control characters.
import type { Job } from '../../jobs/job-schemas.js';
import { formatBytes, guardStatusWords } from '../format.js';
import { styles, type CliIo } from '../io.js';
import { renderBar } from '../progress-bar.js';
import type { PostExportOutcome } from './post-export.js';

/**
 * Bytes per second from successive byte counts. Counts arrive in steps (workers
 * heartbeat every few seconds), so only changes are kept, and the rate spans the
 * changes of the last `windowMs`: between two heartbeats it holds steady instead
 * of dropping to zero.
 */
export class RateWindow {
  private readonly samples = new Map<string, { at: number; bytes: number }[]>();
  constructor(private readonly windowMs = 20_000) {}

  observe(key: string, bytes: number, at: number): number | undefined {
    let list = this.samples.get(key);
    if (!list) this.samples.set(key, (list = []));
    const last = list[list.length - 1];
    // A restarted transfer (retry from zero) starts a new series.
    if (last && bytes < last.bytes) list.length = 0;
    if (!last || bytes !== last.bytes || list.length === 0) list.push({ at, bytes });
    while (list.length > 2 && at - list[0]!.at > this.windowMs) list.shift();
    const first = list[0]!;
    const newest = list[list.length - 1]!;
    // No change for a whole window: stalled, no rate to show.
    if (at - newest.at > this.windowMs) return 0;
    const elapsed = (newest.at - first.at) / 1000;
    return elapsed > 0 ? (newest.bytes - first.bytes) / elapsed : undefined;
  }
}

export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(rest).padStart(2, '0')}s`;
  return `${rest}s`;
}

export interface TrackedExport {
  id: string;
  vmPath: string;
  job?: Job;
  /** What -verify / -compress did with the files after the job completed. */
  post?: PostExportOutcome;
  /** Why -verify / -compress failed (the export itself completed). */
  postError?: string;
}

export interface ProgressOptions {
  /** Plain mode: at most one line per export this often, unless its state changed. */
  lineIntervalMs?: number;
  /** Terminal width, to keep every line on one row (wrapped lines break the redraw). */
  columns?: number;
  now?: () => number;
}

const LABEL = 26;

function fit(label: string, width: number): string {
  return label.length > width ? `…${label.slice(label.length - width + 1)}` : label.padEnd(width);
}

export class ProgressDisplay {
  private readonly rates = new RateWindow();
  private drawn = 0;
  private readonly lastLine = new Map<string, { text: string; state: string; at: number }>();
  private readonly now: () => number;

  constructor(
    private readonly io: CliIo,
    private readonly options: ProgressOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  update(exports: readonly TrackedExport[], note?: string): void {
    if (this.io.isTty) this.redraw(exports, note);
    else this.lines(exports);
  }

  /** Lines of one terminal frame (exported for tests). */
  frame(exports: readonly TrackedExport[], note?: string): string[] {
    const s = styles(this.io);
    const at = this.now();
    const out: string[] = [];
    for (const e of exports) {
      const job = e.job;
      const status = job?.status ?? 'submitting';
      const colour = status === 'completed' ? s.green : status === 'failed' ? s.red : status === 'cancelled' ? s.yellow : s.bold;
      const p = job?.progress;
      const phase = p && p.phase !== status ? ` · ${p.phase}${p.method ? ` (${p.method})` : ''}` : '';
      out.push(`${s.bold(e.vmPath)} ${colour(status)}${phase}`);
      if (!p) continue;
      for (const d of disksOf(job)) {
        const rate = d.state === 'transferring' ? this.rates.observe(`${e.id}/${d.key}`, d.bytes_done, at) : undefined;
        const eta = rate && rate > 0 && d.size_bytes > d.bytes_done ? formatEta((d.size_bytes - d.bytes_done) / rate) : undefined;
        const mark = d.state === 'done' ? s.green('✔') : d.state === 'failed' ? s.red('✖') : ' ';
        out.push(`  ${mark} ${renderBar({ label: fit(d.file, LABEL), done: d.bytes_done, total: d.size_bytes, ...(rate !== undefined ? { rateBytesPerSecond: rate } : {}), ...(eta ? { eta } : {}) })}`);
      }
      if (disksOf(job).length > 1) {
        const total = this.rates.observe(`${e.id}/total`, p.bytes_downloaded, at);
        const eta = total && total > 0 && p.total_bytes > p.bytes_downloaded ? formatEta((p.total_bytes - p.bytes_downloaded) / total) : undefined;
        out.push(`    ${renderBar({ label: fit('total', LABEL), done: p.bytes_downloaded, total: p.total_bytes, ...(total !== undefined ? { rateBytesPerSecond: total } : {}), ...(eta ? { eta } : {}) })}`);
      }
    }
    if (note) out.push(s.yellow(note));
    const width = this.options.columns;
    return width && width > 10 ? out.map((l) => truncateVisible(l, width - 1)) : out;
  }

  private redraw(exports: readonly TrackedExport[], note?: string): void {
    const lines = this.frame(exports, note);
    // Up over the previous frame, then each line cleared and rewritten; a frame
    // shorter than the last one clears what is left below it.
    let text = this.drawn ? `\u001b[${this.drawn}F` : '';
    text += lines.map((l) => `\u001b[2K${l}\n`).join('');
    if (this.drawn > lines.length) text += '\u001b[J';
    this.io.out(text);
    this.drawn = lines.length;
  }

  /** Plain mode: a line per export when its state changes or every lineIntervalMs. */
  private lines(exports: readonly TrackedExport[]): void {
    const at = this.now();
    const every = this.options.lineIntervalMs ?? 5_000;
    for (const e of exports) {
      const job = e.job;
      if (!job) continue;
      const p = job.progress;
      const state = `${job.status}/${p?.phase ?? ''}/${p?.files_downloaded ?? 0}`;
      const rate = p ? this.rates.observe(`${e.id}/total`, p.bytes_downloaded, at) : undefined;
      const previous = this.lastLine.get(e.id);
      if (previous && previous.state === state && at - previous.at < every) continue;
      let text = `${e.vmPath}: ${job.status}`;
      if (p) {
        text += ` phase=${p.phase} ${p.percent_complete.toFixed(1)}% ${formatBytes(p.bytes_downloaded)}/${formatBytes(p.total_bytes)} disks=${p.files_downloaded}/${p.total_files}`;
        if (rate !== undefined && job.status === 'running') text += ` ${formatBytes(rate)}/s`;
        if (rate && rate > 0 && p.total_bytes > p.bytes_downloaded && job.status === 'running') text += ` eta=${formatEta((p.total_bytes - p.bytes_downloaded) / rate)}`;
      }
      if (previous?.text === text) continue;
      this.lastLine.set(e.id, { text, state, at });
      this.io.out(`${guardStatusWords(text, job.status)}\n`);
    }
  }
}

/**
 * The disks to draw. A finished job's view carries no per-disk progress (the
 * workflow is closed); its result lists the disk files, drawn full.
 */
function disksOf(job: Job): NonNullable<Job['progress']>['disks'] {
  const disks = job.progress?.disks ?? [];
  if (disks.length > 0 || job.status !== 'completed' || !job.result) return disks;
  return job.result.file_details
    .filter((f) => f.name.endsWith('.vmdk'))
    .map((f, i) => ({ key: i, file: f.name, state: 'done' as const, bytes_done: f.size, size_bytes: f.size, attempts: 1 }));
}

/** Cuts a line to `width` visible characters, leaving ANSI sequences intact. */
export function truncateVisible(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\u001b') {
      const end = line.indexOf('m', i);
      if (end > 0) {
        out += line.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width) continue;
    out += line[i];
    visible++;
  }
  return out;
}
