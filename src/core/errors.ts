// The fixed set of failure types that cross activity/workflow/API boundaries as
// ApplicationFailure.type. Workflows and the gateway branch on these strings,
// never on `instanceof`.
export const ErrorType = {
  AuthenticationFailed: 'AuthenticationFailed',
  VmNotFound: 'VmNotFound',
  VmPoweredOn: 'VmPoweredOn',
  InvalidPowerState: 'InvalidPowerState',
  NotSupported: 'NotSupported',
  TlsError: 'TlsError',
  LeaseLost: 'LeaseLost',
  LeaseError: 'LeaseError',
  RangeNotSatisfiable: 'RangeNotSatisfiable',
  SourceChanged: 'SourceChanged',
  SizeMismatch: 'SizeMismatch',
  SinkFull: 'SinkFull',
  SinkError: 'SinkError',
  OutputPathNotAllowed: 'OutputPathNotAllowed',
  InvalidInput: 'InvalidInput',
  ProfileNotFound: 'ProfileNotFound',
  Timeout: 'Timeout',
  SoapFault: 'SoapFault',
  TransferFailed: 'TransferFailed',
  /** The output already holds files with the export's names and the job did not ask to overwrite. */
  OutputExists: 'OutputExists',
  /** Another running export is writing files of the same names in the output. */
  OutputInUse: 'OutputInUse',
  WorkerLost: 'WorkerLost',
  /** Inline credentials sealed for another job (or by an older gateway, unbound): never opened here. */
  CredentialsNotForJob: 'CredentialsNotForJob',
  /** The source answered a download with 401/403/404/410: the file is gone or not ours to read. */
  SourceRefused: 'SourceRefused',
  /** The worker's own rules refuse the output directory (output.allowed_roots) or a file in it that it did not create. */
  OutputNotAllowed: 'OutputNotAllowed',
  /** The worker's own rules refuse the S3 bucket or prefix (s3.allowed_buckets). */
  BucketNotAllowed: 'BucketNotAllowed',
  /** Inline credentials name a vCenter the worker does not send credentials to (vsphere.allowed_hosts, vsphere.allow_insecure_http). */
  VcenterNotAllowed: 'VcenterNotAllowed',
  /** A download URL names a host that is neither the vCenter nor an ESXi host it reports: the session cookie is not sent there. */
  DeviceHostNotAllowed: 'DeviceHostNotAllowed',
  /** The source served bytes that are not a disk image of the kind expected (a bare VMDK descriptor, a broken streamOptimized stream). */
  SourceNotADisk: 'SourceNotADisk',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/**
 * Types that can never succeed on retry. Listed in every activity retry policy.
 * SinkFull is deliberately absent: once space is freed, a retry resumes.
 */
export const NON_RETRYABLE_ERROR_TYPES: ErrorType[] = [
  ErrorType.AuthenticationFailed,
  ErrorType.VmNotFound,
  ErrorType.VmPoweredOn,
  ErrorType.NotSupported,
  ErrorType.TlsError,
  ErrorType.SizeMismatch,
  ErrorType.OutputPathNotAllowed,
  ErrorType.InvalidInput,
  ErrorType.ProfileNotFound,
  ErrorType.OutputExists,
  ErrorType.OutputInUse,
  ErrorType.CredentialsNotForJob,
  ErrorType.SourceRefused,
  ErrorType.OutputNotAllowed,
  ErrorType.BucketNotAllowed,
  ErrorType.VcenterNotAllowed,
  ErrorType.DeviceHostNotAllowed,
  ErrorType.SourceNotADisk,
];
