// Where every byte of an OVA goes, computed before any disk is transferred, so that
// each disk can be streamed straight into its place in the archive (no second
// copy of the data) and the tar headers, descriptor and manifest written around
// them afterwards (ova-region-writer.ts).
//
// An OVA is a tar archive (OVF 2.0 / DSP0243 §5.3) whose members are, in this
// order: the descriptor, the manifest, then the disks in References order. Each
// member is a 512-byte POSIX ustar header, its data, zero padding to a multiple of
// 512; the archive ends with two zero blocks. Where ustar cannot say something —
// a size of 8 GiB or more (11 octal digits) or a name longer than its fields — a
// pax extended header ('x' member, POSIX.1-2001) precedes the member and says it
// (`size=`, `path=`), as GNU tar, bsdtar, Python's tarfile and node-tar read. The
// ustar size field of such a member also holds the size in GNU's base-256 form, so
// readers that know that extension but not pax still see the right size.
//
// Disk data starts on a 4 KiB boundary (alignDisksTo), so a region writer can
// write it with O_DIRECT (the device wants file offsets that are multiples of its
// block size; buffered writes cost ~3 s of CPU per GiB here, see
// docs/PERFORMANCE.md). The padding is a pax `comment` record (which readers
// ignore by definition) sized to push the data onto the boundary; a disk whose
// data falls on the boundary anyway and needs no pax gets a plain ustar header.
//
// Deterministic: mtime comes from the caller; uid/gid 0, mode 0644, no user or
// group names, no device numbers. Pure: no I/O, and the same input always gives
// the same bytes, so every activity can recompute it from plain JSON.

export const TAR_BLOCK = 512;
/** The largest size an 11-digit octal ustar field holds is 8 GiB - 1. */
const USTAR_MAX_SIZE = 8 ** 11 - 1;
const DEFAULT_ALIGN = 4096;

export interface OvaMemberSpec {
  /** Path inside the archive: relative, '/'-separated, no '..'; usually a bare file name. */
  name: string;
  sizeBytes: number;
}

export interface OvaLayoutInput {
  descriptor: OvaMemberSpec;
  manifest: OvaMemberSpec;
  disks: OvaMemberSpec[];
  /** Modification time of every member, seconds since the epoch (an integer ≥ 0). */
  mtime: number;
  /** Disk data starts at a multiple of this (a power of two ≥ 512; default 4096; 512 = no padding). */
  alignDisksTo?: number;
}

export type OvaMemberKind = 'descriptor' | 'manifest' | 'disk';

export interface OvaMemberLayout {
  kind: OvaMemberKind;
  name: string;
  sizeBytes: number;
  /** Where the member's header bytes start. */
  headerOffset: number;
  /** Everything from headerOffset to dataOffset: [pax header + pax records +] ustar header. */
  header: Buffer;
  /** Where the member's data starts (headerOffset + header.length). */
  dataOffset: number;
  /** Where the next member (or the end blocks) starts: data end rounded up to 512. */
  endOffset: number;
}

/** What a region writer needs of its member's layout (plain JSON: it can travel in activity input). */
export type OvaRegion = Pick<OvaMemberLayout, 'name' | 'dataOffset' | 'sizeBytes'>;

export interface OvaLayout {
  /** In archive order: descriptor, manifest, disks. */
  members: OvaMemberLayout[];
  descriptor: OvaMemberLayout;
  manifest: OvaMemberLayout;
  disks: OvaMemberLayout[];
  /** Where the two zero end blocks start. */
  endBlocksOffset: number;
  /** The archive's exact size in bytes, end blocks included. */
  totalSize: number;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

function checkSize(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what}: size ${n} is not a whole number of bytes`);
}

/** Names an archive may hold: relative, no '..', no empty segment, no control characters. */
export function checkMemberName(name: string): void {
  const bad =
    name === '' ||
    name.startsWith('/') ||
    name.endsWith('/') ||
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/.test(name) ||
    name.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new RangeError(`OVA member name ${JSON.stringify(name)} is not a plain relative path`);
}

/** One `SHA256(<name>)= <64 hex>\n` line per file, as generateManifest (src/export/ovf.ts) writes. */
function manifestLineBytes(name: string): number {
  return Buffer.byteLength(`SHA256(${name})= `) + 64 + 1;
}

/**
 * The exact byte size of the .mf manifest listing `fileNames` (in any order),
 * known before their hashes are: every line has a 64-digit hex SHA-256.
 */
export function manifestByteSize(fileNames: string[]): number {
  return fileNames.reduce((sum, n) => sum + manifestLineBytes(n), 0);
}

function writeString(header: Buffer, at: number, len: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > len) throw new RangeError(`tar field of ${len} bytes cannot hold ${JSON.stringify(value)}`);
  bytes.copy(header, at);
}

/** `len - 1` octal digits and a NUL, as ustar numeric fields are written. */
function writeOctal(header: Buffer, at: number, len: number, value: number): void {
  const digits = value.toString(8);
  if (digits.length > len - 1) throw new RangeError(`${value} does not fit a ${len}-byte octal tar field`);
  writeString(header, at, len, digits.padStart(len - 1, '0'));
}

/** GNU base-256: high bit of the first byte set, then the value big-endian in the rest of the field. */
function writeBase256(header: Buffer, at: number, len: number, value: number): void {
  let v = value;
  for (let i = at + len - 1; i > at; i--) {
    header[i] = v % 256;
    v = Math.floor(v / 256);
  }
  header[at] = 0x80;
}

/** Ustar puts names up to 255 bytes in prefix (155) + '/' + name (100); undefined when no split fits. */
function splitUstarName(name: string): { prefix: string; name: string } | undefined {
  if (!/^[\u0020-\u007e]*$/.test(name)) return undefined; // non-ASCII: pax says it in UTF-8
  if (name.length <= 100) return { prefix: '', name };
  for (let cut = name.indexOf('/'); cut >= 0; cut = name.indexOf('/', cut + 1)) {
    const prefix = name.slice(0, cut);
    const rest = name.slice(cut + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest !== '') return { prefix, name: rest };
  }
  return undefined;
}

/** An ASCII stand-in ≤ 100 bytes for the ustar name field of a member whose real name is in pax. */
function fallbackName(name: string, prefix = ''): string {
  const base = name.slice(name.lastIndexOf('/') + 1).replace(/[^\u0020-\u007e]/g, '_');
  return (prefix + base).slice(0, 100);
}

function ustarHeader(fields: { name: string; prefix: string; size: number; mtime: number; type: '0' | 'x' }): Buffer {
  const h = Buffer.alloc(TAR_BLOCK);
  writeString(h, 0, 100, fields.name);
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  if (fields.size <= USTAR_MAX_SIZE) writeOctal(h, 124, 12, fields.size);
  else writeBase256(h, 124, 12, fields.size);
  writeOctal(h, 136, 12, fields.mtime);
  h.write(fields.type, 156, 'latin1');
  writeString(h, 257, 6, 'ustar'); // magic "ustar\0"
  writeString(h, 263, 2, '00'); // version
  writeOctal(h, 329, 8, 0); // devmajor
  writeOctal(h, 337, 8, 0); // devminor
  writeString(h, 345, 155, fields.prefix);
  // Checksum: the byte sum with the checksum field read as eight spaces; six octal digits, NUL, space.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** One pax record, `<length> <key>=<value>\n`, where length counts the whole record in bytes. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyBytes = Buffer.byteLength(body);
  let len = bodyBytes + 1;
  while (String(len).length + bodyBytes !== len) len = String(len).length + bodyBytes;
  return `${len}${body}`;
}

/** Smallest record `paddingRecord` can make: "12 comment=\n" is 12 bytes. */
const MIN_PADDING_RECORD = 12;

/** A `comment` record of exactly `bytes` bytes (≥ 12), filled with a note on why it is there. */
function paddingRecord(bytes: number, align: number): string {
  // `<digits of bytes> comment=<value>\n`: the length prefix has as many digits as `bytes` itself.
  const valueLen = bytes - String(bytes).length - ' comment=\n'.length;
  const note = `aligns the data below to ${align} bytes `;
  const rec = paxRecord('comment', note.slice(0, valueLen).padEnd(valueLen, '.'));
  if (valueLen < 0 || Buffer.byteLength(rec) !== bytes) throw new RangeError(`no comment record of ${bytes} bytes`);
  return rec;
}

function memberHeader(spec: OvaMemberSpec, at: number, mtime: number, align: number): Buffer {
  const { name, sizeBytes } = spec;
  const split = splitUstarName(name);
  const records: string[] = [];
  if (sizeBytes > USTAR_MAX_SIZE) records.push(paxRecord('size', String(sizeBytes)));
  if (!split) records.push(paxRecord('path', name));
  const ustar = ustarHeader({
    name: split ? split.name : fallbackName(name),
    prefix: split ? split.prefix : '',
    size: sizeBytes,
    mtime,
    type: '0',
  });
  // Data right after a plain ustar header: fine when nothing needs pax and it lands aligned.
  if (records.length === 0 && (at + TAR_BLOCK) % align === 0) return ustar;

  // [pax ustar header][pax records, k blocks][ustar header][data]: choose the
  // smallest k that holds the records and puts the data on the boundary, and fill
  // the k blocks with a comment record (exactly, so the pax size is k * 512).
  const needed = Buffer.byteLength(records.join(''));
  let k = Math.max(1, Math.ceil(needed / TAR_BLOCK));
  const aligned = (blocks: number) => (at + 2 * TAR_BLOCK + blocks * TAR_BLOCK) % align === 0;
  const fits = (blocks: number) => {
    const pad = blocks * TAR_BLOCK - needed;
    return pad === 0 || pad >= MIN_PADDING_RECORD;
  };
  for (let tries = 0; !(aligned(k) && fits(k)); tries++) {
    if (tries > 2 * (align / TAR_BLOCK) + 2) throw new Error('no pax padding reaches the alignment');
    k++;
  }
  const pad = k * TAR_BLOCK - needed;
  if (pad > 0) records.push(paddingRecord(pad, align));
  const pax = Buffer.from(records.join(''), 'utf8');
  if (pax.length !== k * TAR_BLOCK) throw new Error(`pax records take ${pax.length} bytes, not ${k * TAR_BLOCK}`);
  const paxHeader = ustarHeader({ name: fallbackName(name, 'PaxHeader/'), prefix: '', size: pax.length, mtime, type: 'x' });
  return Buffer.concat([paxHeader, pax, ustar]);
}

/** Lays out descriptor, manifest and disks (in that order) as a tar archive. */
export function planOvaLayout(input: OvaLayoutInput): OvaLayout {
  const align = input.alignDisksTo ?? DEFAULT_ALIGN;
  if (!Number.isInteger(align) || align < TAR_BLOCK || (align & (align - 1)) !== 0) {
    throw new RangeError(`alignDisksTo ${align} is not a power of two ≥ 512`);
  }
  if (!Number.isSafeInteger(input.mtime) || input.mtime < 0 || input.mtime > USTAR_MAX_SIZE) {
    throw new RangeError(`mtime ${input.mtime} is not whole seconds that ustar can hold`);
  }
  const specs: { kind: OvaMemberKind; spec: OvaMemberSpec }[] = [
    { kind: 'descriptor', spec: input.descriptor },
    { kind: 'manifest', spec: input.manifest },
    ...input.disks.map((spec) => ({ kind: 'disk' as const, spec })),
  ];
  const seen = new Set<string>();
  for (const { spec } of specs) {
    checkMemberName(spec.name);
    checkSize(spec.name, spec.sizeBytes);
    if (seen.has(spec.name)) throw new RangeError(`OVA member ${spec.name} appears twice`);
    seen.add(spec.name);
  }

  const members: OvaMemberLayout[] = [];
  let at = 0;
  for (const { kind, spec } of specs) {
    const bytes = memberHeader(spec, at, input.mtime, kind === 'disk' ? align : TAR_BLOCK);
    const dataOffset = at + bytes.length;
    const endOffset = dataOffset + roundUp(spec.sizeBytes, TAR_BLOCK);
    members.push({ kind, name: spec.name, sizeBytes: spec.sizeBytes, headerOffset: at, header: bytes, dataOffset, endOffset });
    at = endOffset;
  }
  const totalSize = at + 2 * TAR_BLOCK;
  if (!Number.isSafeInteger(totalSize)) throw new RangeError(`an archive of ${totalSize} bytes is too large`);
  const [descriptor, manifest, ...disks] = members;
  if (!descriptor || !manifest) throw new Error('unreachable: descriptor and manifest are always laid out');
  return { members, descriptor, manifest, disks, endBlocksOffset: at, totalSize };
}
