// An image an earlier export published, read back as an ExtentSource: the base an
// incremental export applies a snapshot's changes over (overlay-extent-source.ts).
// qcow2: its L2 tables are the allocation map, so only its clusters are read. Raw
// in a local file: Node has no SEEK_DATA, so the map is the file's content: it is
// read once in large chunks (a sparse file's holes read as zeros at memory speed,
// without touching the device) and only the non-zero granules are extents; reading
// them again then comes from the page cache. Raw in S3: an object has no holes and
// no page cache, so the whole disk is one extent, read once. A fixed VHD is read as
// the raw disk before its footer, which must be a fixed VHD's footer for a disk of
// that size.
import type { Extent, ExtentSource } from '../core/extent-source.js';
import type { ImageFormat } from '../core/export-contract.js';
import { fixedVhdFooterProblem, VHD_FOOTER_SIZE } from '../core/vhd-footer.js';
import { Qcow2Reader } from '../formats/qcow2/reader.js';
import type { FinishedFileReader } from '../storage/sink.js';

const SCAN_CHUNK_BYTES = 4 << 20;
const RAW_GRANULE_BYTES = 64 << 10;
const MAX_READ_BYTES = 1 << 20;

export interface EarlierImageSource extends ExtentSource {
  close(): Promise<void>;
}

/**
 * Reads `file` as an image of `format`, and closes it with the source. Throws
 * Qcow2ReadError when it is not a plain qcow2, an Error naming the problem when it
 * is not a fixed VHD (the file is closed then).
 */
export async function openEarlierImageSource(file: FinishedFileReader, format: ImageFormat): Promise<EarlierImageSource> {
  try {
    const qcow2 = format === 'qcow2' ? await Qcow2Reader.open(file, file.uri) : undefined;
    const size = qcow2 ? qcow2.virtualSize : format === 'vhd' ? await vhdDiskSize(file) : file.sizeBytes;
    return new EarlierImage(file, qcow2, size);
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** The size of the disk a fixed VHD holds before its footer, once the footer is checked. */
async function vhdDiskSize(file: FinishedFileReader): Promise<number> {
  const diskBytes = file.sizeBytes - VHD_FOOTER_SIZE;
  const footer = Buffer.alloc(VHD_FOOTER_SIZE);
  const { bytesRead } = diskBytes >= 0 ? await file.read(footer, 0, VHD_FOOTER_SIZE, diskBytes) : { bytesRead: 0 };
  const problem = bytesRead === VHD_FOOTER_SIZE ? fixedVhdFooterProblem(footer, diskBytes) : `it is ${file.sizeBytes} bytes, shorter than a VHD footer`;
  if (problem) throw new Error(`${file.uri} is not a fixed VHD: ${problem}`);
  return diskBytes;
}

class EarlierImage implements EarlierImageSource {
  readonly concurrency = 1;
  readonly maxReadBytes = MAX_READ_BYTES;
  readonly where: string;

  constructor(
    private readonly file: FinishedFileReader,
    private readonly qcow2: Qcow2Reader | undefined,
    readonly sizeBytes: number,
  ) {
    this.where = `earlier image ${file.uri}`;
  }

  identity(): { sizeBytes: number; etag: string } {
    return { sizeBytes: this.sizeBytes, etag: this.file.version };
  }

  async *allocated(from: number, signal: AbortSignal): AsyncIterable<Extent> {
    if (this.qcow2) {
      for await (const run of this.qcow2.runs(from)) {
        if (signal.aborted) return;
        yield { offset: run.guestOffset, length: run.length };
      }
      return;
    }
    if (this.file.cheapScan) yield* this.nonZeroRuns(from, signal);
    else if (from < this.sizeBytes) yield { offset: from, length: this.sizeBytes - from };
  }

  private async *nonZeroRuns(from: number, signal: AbortSignal): AsyncGenerator<Extent> {
    const chunk = Buffer.alloc(SCAN_CHUNK_BYTES);
    let run: Extent | undefined;
    for (let at = Math.floor(from / RAW_GRANULE_BYTES) * RAW_GRANULE_BYTES; at < this.sizeBytes; at += SCAN_CHUNK_BYTES) {
      if (signal.aborted) return;
      const { bytesRead } = await this.file.read(chunk, 0, Math.min(SCAN_CHUNK_BYTES, this.sizeBytes - at), at);
      for (let g = 0; g < bytesRead; g += RAW_GRANULE_BYTES) {
        const end = Math.min(g + RAW_GRANULE_BYTES, bytesRead);
        if (isZero(chunk, g, end)) continue;
        if (run && run.offset + run.length === at + g) run.length += end - g;
        else {
          if (run) yield run;
          run = { offset: at + g, length: end - g };
        }
      }
    }
    if (run) yield run;
  }

  async read(extent: Extent): Promise<Buffer> {
    if (this.qcow2) return this.qcow2.read(extent.offset, extent.length);
    const out = Buffer.alloc(extent.length);
    const { bytesRead } = await this.file.read(out, 0, extent.length, extent.offset);
    return bytesRead === extent.length ? out : out.subarray(0, bytesRead);
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

const ZEROS = Buffer.alloc(RAW_GRANULE_BYTES);

function isZero(buf: Buffer, start: number, end: number): boolean {
  return buf.compare(ZEROS, 0, end - start, start, end) === 0;
}
