// streamOptimized VMDK decoding for transfers that write raw or qcow2 from an
// ESXi export stream: see decoder.ts.
export {
  decodeStreamOptimized,
  maxCompressedGrainBytes,
  StreamOptimizedVmdkDecoder,
  type VmdkStreamDataEvent,
  type VmdkStreamEndEvent,
  type VmdkStreamEvent,
  type VmdkStreamHeaderEvent,
} from './decoder.js';
export { VmdkStreamError, type VmdkStreamErrorCode } from './errors.js';
export { looksLikeTextDescriptor, MAX_GRAIN_BYTES, type SparseExtentHeader } from './sparse-header.js';
