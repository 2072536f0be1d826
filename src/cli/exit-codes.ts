// hyperctl exit codes (documented in `hyperctl --help` and the README).
export const ExitCode = {
  /** Success; for watch: the job completed. */
  Ok: 0,
  /** The daemon answered with an error (job not found, submit rejected), or the job failed/was cancelled. */
  Failed: 1,
  /** Bad flags or arguments: usage was printed. */
  Usage: 2,
  /** The daemon (or Temporal, for describe/history) could not be reached. */
  Unreachable: 3,
  /** The daemon refused the API token. */
  Unauthorized: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `
Exit codes:
  0  success (watch: the job completed)
  1  the daemon reported an error, or the job failed or was cancelled
  2  usage error (unknown flag, missing argument)
  3  the daemon or Temporal is unreachable
  4  authentication failed (set -token or HYPERSDK_API_TOKEN)
`;
