// One member of a tar archive (an OVA) read in place: an incremental export to an
// OVA lays a snapshot's changes over the disk image an earlier export packed into
// the archive of the same name, and reads that image where it lies instead of
// unpacking a copy. The headers are walked from the start: POSIX ustar (name in
// prefix + name), pax extended headers ('x': path= and size= override the next
// member's), GNU long names ('L'), GNU base-256 sizes; global pax headers ('g')
// are skipped. Only what a regular file member needs is read; a member that is
// not one is not found.

/** What the walk reads: the archive's bytes by position (a finished output file is one). */
export interface TarArchiveBytes {
  readonly uri: string;
  readonly sizeBytes: number;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

const BLOCK = 512;
/** Headers read before giving up: an OVA has a descriptor, a manifest and its disks, each with at most a pax header. */
const MAX_HEADERS = 4_096;

export class TarReadError extends Error {
  override name = 'TarReadError';
}

export interface TarMember {
  /** Where the member's data starts in the archive. */
  offset: number;
  sizeBytes: number;
}

/** Finds `name` among the archive's members; undefined when it holds no regular file of that name. */
export async function findTarMember(archive: TarArchiveBytes, name: string): Promise<TarMember | undefined> {
  const header = Buffer.alloc(BLOCK);
  let position = 0;
  let pax: Record<string, string> = {};
  for (let count = 0; count < MAX_HEADERS && position + BLOCK <= archive.sizeBytes; count++) {
    const { bytesRead } = await archive.read(header, 0, BLOCK, position);
    if (bytesRead < BLOCK) throw new TarReadError(`${archive.uri}: the archive ends inside a header at ${position}`);
    if (header.every((b) => b === 0)) return undefined; // end-of-archive blocks
    if (!checksumMatches(header)) throw new TarReadError(`${archive.uri}: the header at ${position} is not a tar header (checksum)`);
    const type = String.fromCharCode(header[156]!);
    const size = pax.size !== undefined ? Number(pax.size) : sizeField(header.subarray(124, 136));
    if (!Number.isSafeInteger(size) || size < 0) throw new TarReadError(`${archive.uri}: the member at ${position} has no valid size`);
    const data = position + BLOCK;
    if (data + size > archive.sizeBytes) throw new TarReadError(`${archive.uri}: the member at ${position} runs past the archive's end`);
    if (type === 'x') {
      pax = await paxRecords(archive, data, size);
    } else if (type === 'L') {
      // GNU tar's long name: the next member's name is this member's data.
      pax = { ...pax, path: (await readSmall(archive, data, size, 'GNU long name')).toString('utf8').replace(/\0.*$/s, '') };
    } else {
      const memberName = pax.path ?? ustarName(header);
      pax = {};
      if ((type === '0' || type === '\0') && memberName === name) return { offset: data, sizeBytes: size };
    }
    position = data + Math.ceil(size / BLOCK) * BLOCK;
  }
  return undefined;
}

function checksumMatches(header: Buffer): boolean {
  const stored = Number.parseInt(header.subarray(148, 156).toString('latin1').replace(/[\0 ]+/g, ' ').trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return stored === sum;
}

/** A size field: octal digits, or GNU's base-256 (high bit of the first byte set). */
function sizeField(field: Buffer): number {
  if ((field[0]! & 0x80) !== 0) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function ustarName(header: Buffer): string {
  const field = (from: number, to: number) => header.subarray(from, to).toString('utf8').replace(/\0.*$/s, '');
  const name = field(0, 100);
  const magic = header.subarray(257, 262).toString('latin1');
  const prefix = magic === 'ustar' ? field(345, 500) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** The data of a header-like member (a pax header, a GNU long name): small by nature. */
async function readSmall(archive: TarArchiveBytes, offset: number, size: number, what: string): Promise<Buffer> {
  if (size > 1 << 20) throw new TarReadError(`${archive.uri}: a ${what} of ${size} bytes at ${offset - BLOCK} is larger than any OVA holds`);
  const data = Buffer.alloc(size);
  const { bytesRead } = await archive.read(data, 0, size, offset);
  if (bytesRead < size) throw new TarReadError(`${archive.uri}: the ${what} at ${offset - BLOCK} is cut short`);
  return data;
}

/** Records of a pax extended header: "<length> <key>=<value>\n" each. */
async function paxRecords(archive: TarArchiveBytes, offset: number, size: number): Promise<Record<string, string>> {
  const data = await readSmall(archive, offset, size, 'pax header');
  const records: Record<string, string> = {};
  let at = 0;
  while (at < size) {
    const space = data.indexOf(0x20, at);
    const length = space > at ? Number.parseInt(data.subarray(at, space).toString('latin1'), 10) : NaN;
    if (!Number.isInteger(length) || length <= 0 || at + length > size) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records[record.slice(0, equals)] = record.slice(equals + 1);
    at += length;
  }
  return records;
}
