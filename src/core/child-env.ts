// The environment of every process the product starts (the embedded Temporal
// server, the workflow bundler, the dev services): only what a program needs to
// run, never the daemon's own. The daemon's environment holds GOVC_PASSWORD, the
// secrets key, the API token and the AWS secret; a child that inherited it would
// hold them too (readable in /proc/<pid>/environ, passed on to its own children,
// printed by its crash dumps).

/** Variables a child may see: where programs and temporary files are, language, time zone. */
export const CHILD_ENV_NAMES = [
  'PATH',
  'HOME',
  'TMPDIR',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'LC_MESSAGES',
  'TZ',
  'USER',
  'LOGNAME',
] as const;

/**
 * A minimal environment for a child process: CHILD_ENV_NAMES from `from` (this
 * process's environment by default) plus `extra`, which names what this child
 * needs and nothing else. Undefined values in `extra` are left out.
 */
export function childEnvironment(
  extra: Record<string, string | undefined> = {},
  from: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of CHILD_ENV_NAMES) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined) env[name] = value;
  }
  return env;
}
