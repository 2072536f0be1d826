// What the qcow2 writer needs of where it writes: a node FileHandle fits, and so
// can an S3 multipart upload. All writes but the header's (one cluster at offset
// 0, in finish()) append at the end, each writev() call ending at a point the
// writer can describe in a checkpoint.

export interface Qcow2Output {
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  /** Only resume() reads: the first bytes (a header left by an unrecorded finish) and, for a one-bit-per-region state, L2 tables. */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  /**
   * For outputs that can make only a prefix durable, e.g. an S3 multipart upload
   * (whole parts of >= 5 MiB; the rest waits in memory for the next part): the
   * bytes from the start that would survive a kill, after datasync(). The
   * upload must end its parts where writev() calls end; checkpoint() then
   * describes the newest point at or before this length. Without it, everything
   * written is durable after datasync() (a file).
   */
  durableLength?(): number;
}
