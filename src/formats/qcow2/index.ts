// The qcow2 output format: a one-pass writer over ordered extents (writer.ts),
// its layout (layout.ts), checkpoint state (state.ts), output contract
// (output.ts) and the SHA-256 of a finished image (sha256-file.ts).
export { Qcow2WriterError, type Qcow2WriterErrorCode } from './errors.js';
export type { Qcow2Output } from './output.js';
export { sha256OfFile } from './sha256-file.js';
export { MAX_STATE_BYTES, QCOW2_STATE_FORMAT, type Qcow2WriterState } from './state.js';
export { Qcow2Writer, type Qcow2FinishResult, type Qcow2WriterOptions } from './writer.js';
export { DEFAULT_CLUSTER_BITS, fullImageHeader, qcow2Geometry } from './layout.js';
