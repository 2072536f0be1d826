// A DiskWriter that passes every call to another one, except those it replaces:
// the way to add one rule to a writer (keep the directory open while it lives,
// refuse what a stream must not be) without restating the whole contract.
import type { DiskWriter } from './sink.js';

type Replaceable = Pick<DiskWriter, 'write' | 'reset' | 'finish' | 'close' | 'abort'>;

export function delegatingWriter(writer: DiskWriter, replaced: Partial<Replaceable>): DiskWriter {
  const out: DiskWriter = {
    get name() {
      return writer.name;
    },
    get prefixHashing() {
      return writer.prefixHashing;
    },
    get commitGranularity() {
      return writer.commitGranularity;
    },
    get resumeOffset() {
      return writer.resumeOffset;
    },
    get releasesChunks() {
      return writer.releasesChunks;
    },
    get hashesOutput() {
      return writer.hashesOutput;
    },
    write: replaced.write ?? ((chunk, release) => writer.write(chunk, release)),
    commit: () => writer.commit(),
    flush: () => writer.flush(),
    reset: replaced.reset ?? (() => writer.reset()),
    finish: replaced.finish ?? (() => writer.finish()),
    close: replaced.close ?? (() => writer.close()),
    abort: replaced.abort ?? (() => writer.abort()),
  };
  if (writer.allocateBuffers) out.allocateBuffers = (count, bytes) => writer.allocateBuffers!(count, bytes);
  if (writer.readPrefix) out.readPrefix = () => writer.readPrefix!();
  return out;
}
