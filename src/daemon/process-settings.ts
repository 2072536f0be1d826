// How hypervisord's node process should be started. Both settings take effect
// only when given before the process starts, so they live where it is started:
// deploy/hypervisord.service and the Dockerfile (checked against this file by
// process-settings.test.ts), and the launchers of bench/, test/e2e and the demo
// through daemonCommand(). Measured with bench/large (4 GiB, OVF) and
// /proc/<pid>/status, both cut RSS at no measurable CPU or wall-time cost:
// - --max-semi-space-size=2: V8 lets its young generation grow to two 16 MiB
//   semi-spaces per isolate (the main thread, the workflow thread, the hash
//   thread), and what it has grown to stays resident: 30-40 MB less.
// - MALLOC_ARENA_MAX=2: glibc gives threads that allocate (the Temporal core's,
//   libuv's, V8's) arenas of their own, up to 8 per core: 20 MB less.
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** `node` arguments and environment to start a script (bin/hypervisord.js) as the deployments do. */
export function daemonCommand(script: string, args: readonly string[], env: NodeJS.ProcessEnv): { args: string[]; env: NodeJS.ProcessEnv } {
  return { args: [...DAEMON_NODE_FLAGS, script, ...args], env: { ...DAEMON_ENV, ...env } };
}

/** The settings this process was started without (any value an operator chose counts as set). */
export function missingDaemonSettings(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): string[] {
  // V8 takes --max_semi_space_size as well as --max-semi-space-size.
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].map((a) => a.split('=')[0]!.replaceAll('_', '-'));
  const missing: string[] = [];
  for (const flag of DAEMON_NODE_FLAGS) if (!given.includes(flag.split('=')[0]!)) missing.push(`node ${flag}`);
  for (const [name, value] of Object.entries(DAEMON_ENV)) if (env[name] === undefined) missing.push(`${name}=${value}`);
  return missing;
}
