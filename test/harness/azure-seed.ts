// Seeds Azurite with page blobs shaped as Azure serves a managed-disk snapshot: a
// fixed VHD, the disk's bytes then a 512-byte footer. The disk holds random data
// at 512-aligned ranges the test chooses, with long unwritten gaps between (pages
// never written are not in Get Page Ranges). The footer is written here from
// Microsoft's VHD specification, independently of src/formats/vhd. The expected
// raw image (the disk without the footer) is written beside, for qemu-img compare.
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { request } from 'undici';
import { accountSas, type AzureAccount } from './azure-sas.js';

const MiB = 2 ** 20;
const PUT_PAGE_MAX = 4 * MiB;
const VERSION = '2021-08-06';

export interface SeedRange {
  offset: number;
  length: number;
}

export interface SeedBlobOptions {
  container: string;
  blob: string;
  /** The disk's size (the blob is 512 bytes longer), a multiple of 512. */
  diskBytes: number;
  ranges: readonly SeedRange[];
  /** Changes the footer before it is written (a corrupted footer). */
  spoilFooter?: (footer: Buffer) => void;
}

export interface SeededBlob {
  container: string;
  blob: string;
  diskBytes: number;
  /** The written ranges and their data, in offset order. */
  written: { offset: number; data: Buffer }[];
  footer: Buffer;
}

/** The footer of a fixed VHD of `size` bytes: Virtual Hard Disk Image Format Specification, "Hard Disk Footer Format". */
export function specFooter(size: number): Buffer {
  const f = Buffer.alloc(512);
  f.write('conectix', 0, 'ascii'); // cookie
  f.writeUInt32BE(0x00000002, 8); // features: reserved bit, always set
  f.writeUInt32BE(0x00010000, 12); // file format version 1.0
  f.writeBigUInt64BE(0xffffffffffffffffn, 16); // data offset: none for a fixed disk
  f.writeUInt32BE(Math.floor((Date.now() - Date.UTC(2000, 0, 1)) / 1000), 24); // timestamp: seconds since 2000-01-01 UTC
  f.write('test', 28, 'ascii'); // creator application
  f.writeUInt32BE(0x00010000, 32); // creator version
  f.write('Wi2k', 36, 'ascii'); // creator host OS
  f.writeBigUInt64BE(BigInt(size), 40); // original size
  f.writeBigUInt64BE(BigInt(size), 48); // current size
  // Geometry (appendix "CHS calculation"), for disks under 65535*16*63 sectors.
  const sectors = size / 512;
  let spt = 17;
  let cth = Math.floor(sectors / spt);
  let heads = Math.max(4, Math.floor((cth + 1023) / 1024));
  if (cth >= heads * 1024 || heads > 16) {
    spt = 31;
    heads = 16;
    cth = Math.floor(sectors / spt);
  }
  if (cth >= heads * 1024) {
    spt = 63;
    heads = 16;
    cth = Math.floor(sectors / spt);
  }
  f.writeUInt16BE(Math.floor(cth / heads), 56);
  f[58] = heads;
  f[59] = spt;
  f.writeUInt32BE(2, 60); // disk type: fixed
  randomBytes(16).copy(f, 68); // unique id
  f.writeUInt32BE(footerChecksum(f), 64);
  return f;
}

/** One's complement of the sum of the footer's bytes, its checksum field as zero. */
export function footerChecksum(f: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += f[i]!;
  return ~sum >>> 0;
}

async function put(url: string, headers: Record<string, string>, body?: Buffer): Promise<void> {
  const res = await request(url, { method: 'PUT', headers: { 'x-ms-version': VERSION, 'content-length': String(body?.length ?? 0), ...headers }, ...(body ? { body } : {}) });
  const text = await res.body.text();
  if (res.statusCode !== 201 && !(res.statusCode === 409 && text.includes('ContainerAlreadyExists'))) {
    throw new Error(`seeding Azurite: PUT ${url.split('?')[0]} answered ${res.statusCode}: ${text.slice(0, 300)}`);
  }
}

export async function seedPageBlob(a: AzureAccount, o: SeedBlobOptions): Promise<SeededBlob> {
  if (o.diskBytes % 512 !== 0) throw new Error('a page blob is a whole number of 512-byte pages');
  const sas = accountSas(a, new Date(Date.now() + 3600_000));
  await put(`${a.blobEndpoint}/${o.container}?restype=container&${sas}`, {});
  const blobUrl = `${a.blobEndpoint}/${o.container}/${o.blob}`;
  await put(`${blobUrl}?${sas}`, { 'x-ms-blob-type': 'PageBlob', 'x-ms-blob-content-length': String(o.diskBytes + 512) });
  const written = [...o.ranges]
    .sort((x, y) => x.offset - y.offset)
    .map((r) => {
      if (r.offset % 512 !== 0 || r.length % 512 !== 0 || r.length <= 0 || r.offset + r.length > o.diskBytes) throw new Error(`range ${r.offset}+${r.length} is not whole pages inside the disk`);
      return { offset: r.offset, data: randomBytes(r.length) };
    });
  const putPages = async (offset: number, data: Buffer): Promise<void> => {
    for (let at = 0; at < data.length; at += PUT_PAGE_MAX) {
      const part = data.subarray(at, Math.min(data.length, at + PUT_PAGE_MAX));
      await put(`${blobUrl}?comp=page&${sas}`, { 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${offset + at}-${offset + at + part.length - 1}` }, part);
    }
  };
  for (const w of written) await putPages(w.offset, w.data);
  const footer = specFooter(o.diskBytes);
  o.spoilFooter?.(footer);
  await putPages(o.diskBytes, footer);
  return { container: o.container, blob: o.blob, diskBytes: o.diskBytes, written, footer };
}

/** The disk as a sparse raw file: the written ranges, zeros elsewhere, no footer. */
export async function writeExpectedImage(seeded: SeededBlob, path: string): Promise<string> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(seeded.diskBytes);
    for (const w of seeded.written) await fh.write(w.data, 0, w.data.length, w.offset);
  } finally {
    await fh.close();
  }
  return path;
}
