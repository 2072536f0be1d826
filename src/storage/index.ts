export type {
  CompletedPart,
  DiskWriter,
  FinishedFile,
  LegacyS3WriterState,
  LocalWriterState,
  OpenDiskWriterOptions,
  OutputSink,
  S3ImageWriterState,
  S3WriterState,
  StagedDiskRecord,
  WriterCommit,
  WriterResumePoint,
  WriterState,
} from './sink.js';
export { LocalSink } from './local-sink.js';
export { S3Sink, type S3SinkOptions } from './s3-sink.js';
export { isImageNotReadable } from './s3-image-file.js';
export { choosePartSize } from './s3-part-size.js';
export { sinkFailure } from './sink-errors.js';
