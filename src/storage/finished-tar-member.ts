// A member of a finished archive (an earlier export's OVA) read as a finished
// file of its own: the base an incremental export to an OVA reads, where it lies.
import { findTarMember, type TarMember } from '../formats/tar-member.js';
import type { FinishedFileReader } from './sink.js';

/**
 * The member `name` of `archive` as a file of its own (reads are shifted and
 * bounded to it); closing it closes the archive. Undefined (the archive closed)
 * when there is no such member.
 */
export async function openTarMember(archive: FinishedFileReader, name: string): Promise<FinishedFileReader | undefined> {
  let member: TarMember | undefined;
  try {
    member = await findTarMember(archive, name);
  } catch (err) {
    await archive.close();
    throw err;
  }
  if (!member) {
    await archive.close();
    return undefined;
  }
  const { offset, sizeBytes } = member;
  return {
    uri: `${archive.uri}#${name}`,
    sizeBytes,
    version: archive.version,
    // The archive was written as a stream: the member has no holes to skip.
    cheapScan: false,
    read: (buffer, bufferOffset, length, position) => {
      const bounded = Math.max(0, Math.min(length, sizeBytes - position));
      return bounded === 0 ? Promise.resolve({ bytesRead: 0 }) : archive.read(buffer, bufferOffset, bounded, offset + position);
    },
    close: () => archive.close(),
  };
}

