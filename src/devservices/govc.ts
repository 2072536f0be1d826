import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { childEnvironment } from '../core/child-env.js';

const execFileAsync = promisify(execFile);

export interface GovcTarget {
  govc: string;
  vcsim: { host: string; username: string; password: string };
}

/**
 * Runs govc, VMware's own CLI, against the harness vcsim: an independent client to
 * set up inventory state and to check our results against. Credentials travel in
 * the environment, never in argv.
 */
export async function govc(target: GovcTarget, args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await execFileAsync(target.govc, args, {
    timeout: timeoutMs,
    maxBuffer: 256 * 1024 * 1024,
    env: childEnvironment({
      GOVC_URL: `https://${target.vcsim.host}/sdk`,
      GOVC_USERNAME: target.vcsim.username,
      GOVC_PASSWORD: target.vcsim.password,
      GOVC_INSECURE: '1',
      GOVC_PERSIST_SESSION: 'false',
    }),
  });
  return stdout;
}
