// Names that tie a local export to the machine holding its files. The task queue
// must be the same before and after a restart (a retried transfer waits on it for
// the worker to come back); the SDK identity may change and carries the pid.

/** The activity task queue of one worker: `<shared queue>@<identity>`. */
export function workerTaskQueue(sharedTaskQueue: string, identity: string): string {
  return `${sharedTaskQueue}@${identity}`;
}

/**
 * What the worker reports to Temporal as its identity (ActivityTaskStarted events,
 * the UI's pollers): the SDK's own `<pid>@<host>` shape, with the configured
 * identity in place of the host name, so two processes of one machine stay apart.
 */
export function sdkWorkerIdentity(identity: string, pid: number = process.pid): string {
  return `${pid}@${identity}`;
}

/** The configured identity inside an SDK identity made by sdkWorkerIdentity (the pid has no "@"). */
export function identityOfSdkIdentity(sdkIdentity: string): string {
  const at = sdkIdentity.indexOf('@');
  return at < 0 ? sdkIdentity : sdkIdentity.slice(at + 1);
}
