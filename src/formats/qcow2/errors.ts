/** Why a qcow2 writer refused an input, a checkpoint state or an option. */
export type Qcow2WriterErrorCode =
  | 'bad-option' // create/resume options out of range (cluster size, virtual size)
  | 'out-of-order' // an extent starts before data already received
  | 'beyond-virtual-size' // an extent ends past the virtual disk size
  | 'bad-state' // a checkpoint state that does not describe this writer or is inconsistent
  | 'file-too-short' // the output file is shorter than the checkpoint says was made durable
  | 'file-corrupt' // a table read back from the file at resume does not say what the layout implies
  | 'busy' // a call while another one is still running (calls must be awaited one at a time)
  | 'finished'; // a call after finish() or after a failed write

export class Qcow2WriterError extends Error {
  override readonly name = 'Qcow2WriterError';
  constructor(
    readonly code: Qcow2WriterErrorCode,
    message: string,
  ) {
    super(message);
  }
}
