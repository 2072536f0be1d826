export { transferDisk } from './transfer-disk.js';
export type { HashCheckpoint, SourceIdentity, TransferCheckpoint, TransferRequest, TransferResult } from './types.js';
export { normaliseThumbprint } from './tls-pinning.js';
