/** A rejected job: the message names the field (`jobs[1].vm_path: ...`). */
export class JobRejected extends Error {
  override name = 'JobRejected';
}
