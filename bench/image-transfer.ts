// Ours, as the transfer activity runs it: transferDisk from an HTTP URL into
// openImageDiskWriter(LocalSink) — raw or qcow2 written in the same pass, the
// engine finishing the writer (for qcow2: header last, then the file read back
// for its SHA-256, as the manifest needs). Run as its own process, like the
// qemu-img it is compared with, and so a profile can be taken of it alone:
//
//   node <tsx loader> [--cpu-prof --cpu-prof-dir <dir>] bench/image-transfer.ts '<JSON options>'
//   → one line of JSON (ImageTransferResult)
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dyingWithParent } from '../src/devservices/process.js';
import { openImageDiskWriter, type ImageFormat } from '../src/storage/image/image-disk-writer.js';
import { LocalSink } from '../src/storage/local-sink.js';
import { transferExtents } from '../src/transfer/extent-transfer.js';
import { HttpExtentSource } from '../src/transfer/http-extent-source.js';
import { transferDisk } from '../src/transfer/transfer-disk.js';

export interface ImageTransferOptions {
  url: string;
  /** Absolute directory the image is written into. */
  outDir: string;
  name: string;
  format: ImageFormat;
  virtualSize: number;
  source: 'raw' | 'sniff';
  /** The engine's checkpoint period (default: the engine's, as the transfer activity uses it); longer to measure what checkpoints cost. */
  checkpointEveryMs?: number;
  /** Node flags for the child, e.g. ['--cpu-prof', '--cpu-prof-dir', dir]. */
  nodeFlags?: string[];
  /** 'stream' (default): one GET (transfer-disk.ts); 'extents': ranged GETs in parallel (extent-transfer.ts, source 'raw' only). */
  engine?: 'stream' | 'extents';
  /** With engine 'extents': reads in flight and bytes per read. */
  concurrency?: number;
  maxReadBytes?: number;
}

export interface ImageTransferResult {
  path: string;
  sha256: string;
  sizeBytes: number;
  bytesReceived: number;
  /** From the start to the engine's return: what a user waits for. */
  seconds: number;
  /** Until the last checkpoint (every byte received and written), then the writer's finish (qcow2: header, read-back hash). */
  transferSeconds: number;
  finishSeconds: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  maxRssBytes: number;
}

async function transferOnce(o: ImageTransferOptions): Promise<ImageTransferResult> {
  const sink = new LocalSink(o.outDir);
  const t0 = performance.now();
  let lastCheckpointAt = t0;
  const writer = await openImageDiskWriter(sink, { name: o.name, format: o.format, virtualSize: o.virtualSize, source: o.source, stage: false });
  try {
    const common = {
      writer,
      signal: new AbortController().signal,
      ...(o.checkpointEveryMs !== undefined ? { checkpointEveryMs: o.checkpointEveryMs } : {}),
      // The engine's last checkpoint comes after the last byte is written and before finish.
      onCheckpoint: () => (lastCheckpointAt = performance.now()),
    };
    const result =
      o.engine === 'extents'
        ? await transferExtents({
            ...common,
            source: new HttpExtentSource({
              source: { url: o.url, headers: {} },
              sizeBytes: o.virtualSize,
              ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
              ...(o.maxReadBytes !== undefined ? { maxReadBytes: o.maxReadBytes } : {}),
            }),
          })
        : await transferDisk({ ...common, source: { url: o.url, headers: {} } });
    const end = performance.now();
    const usage = process.resourceUsage();
    return {
      path: result.file.uri,
      sha256: result.sha256,
      sizeBytes: result.file.sizeBytes,
      bytesReceived: result.bytesReceived,
      seconds: (end - t0) / 1000,
      transferSeconds: (lastCheckpointAt - t0) / 1000,
      finishSeconds: (end - lastCheckpointAt) / 1000,
      cpuUserSeconds: usage.userCPUTime / 1e6,
      cpuSystemSeconds: usage.systemCPUTime / 1e6,
      maxRssBytes: usage.maxRSS * 1024,
    };
  } finally {
    await sink.close();
  }
}

/** Runs one transfer in a child process and returns what it measured. */
export function runImageTransfer(o: ImageTransferOptions): Promise<ImageTransferResult> {
  const { nodeFlags = [], ...options } = o;
  const args = [...process.execArgv, ...nodeFlags, fileURLToPath(import.meta.url), JSON.stringify(options)];
  return new Promise((resolve, reject) => {
    const child = spawn(...dyingWithParent(process.execPath, args), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as ImageTransferResult);
      else reject(new Error(`image transfer of ${o.url} exited ${code}: ${stderr.trim() || stdout.trim()}`));
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = JSON.parse(process.argv[2] ?? '') as ImageTransferOptions;
  transferOnce(options).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      // The engine's shared hash worker may keep the loop alive.
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
