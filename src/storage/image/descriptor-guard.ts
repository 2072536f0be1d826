// A lease device that serves a VMDK text descriptor instead of the disk (what a
// simulator's ExportSnapshot does: a 201-byte descriptor for a whole disk) must
// never be published as the disk. The first bytes of every NFC stream are checked:
// a descriptor fails the disk, final, and its partial is removed.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../core/errors.js';
import { looksLikeTextDescriptor } from '../../formats/vmdk-stream/index.js';
import { delegatingWriter } from '../delegating-writer.js';
import type { DiskWriter } from '../sink.js';

export { looksLikeTextDescriptor };

export function descriptorServed(name: string, bytes: number): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.SourceNotADisk,
    message: `${name}: the export lease served a VMDK text descriptor (its first ${Math.min(bytes, 64)} bytes say so), which holds no disk data; nothing of it is published (method datastore reads the disk's own file)`,
    nonRetryable: true,
  });
}

/** The writer, refusing a stream whose first bytes (at offset 0) are a text VMDK descriptor. */
export function refusingDescriptors(writer: DiskWriter): DiskWriter {
  let atStart = writer.resumeOffset === 0;
  return delegatingWriter(writer, {
    write: async (chunk, release) => {
      if (atStart) {
        atStart = false;
        if (looksLikeTextDescriptor(chunk)) {
          release?.();
          throw descriptorServed(writer.name, chunk.length);
        }
      }
      return writer.write(chunk, release);
    },
    reset: async () => {
      await writer.reset();
      atStart = true;
    },
  });
}
