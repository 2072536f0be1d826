// Secrets from files instead of environment values, so that a service manager can
// hand them over without putting them in the process environment (where every
// child process, /proc/<pid>/environ and `systemctl show` would see them):
//
// - `<NAME>_FILE=/path` for any configuration variable NAME (GOVC_PASSWORD_FILE,
//   HYPERSDK_SECRETS_KEY_FILE, AWS_SECRET_ACCESS_KEY_FILE...), the convention of
//   container images and compose `secrets:`;
// - systemd credentials: with `LoadCredential=GOVC_PASSWORD:/etc/...` systemd sets
//   $CREDENTIALS_DIRECTORY, and a file there named like a variable is its value.
//
// A value given twice (NAME and NAME_FILE) is an error rather than a guess. One
// trailing newline is dropped (what `echo secret > file` leaves).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ENV_BINDINGS, isUnset } from './env.js';

export interface SecretFileIssue {
  key: string;
  message: string;
}

/** Larger than any password, token or key; a bigger file is a wrong path. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

async function readSecret(path: string): Promise<string> {
  const data = await readFile(path);
  if (data.length > MAX_SECRET_FILE_BYTES) throw new Error(`larger than ${MAX_SECRET_FILE_BYTES} bytes`);
  return data.toString('utf8').replace(/\r?\n$/, '');
}

/**
 * `env` with the variables whose value comes from a file filled in (a new object;
 * `env` is not changed). Throws the issues found, each naming the variable.
 */
export async function withSecretFiles(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const out: NodeJS.ProcessEnv = { ...env };
  const issues: SecretFileIssue[] = [];
  const names = [...new Set(ENV_BINDINGS.map((b) => b.name))];
  const credentials = env.CREDENTIALS_DIRECTORY;
  for (const name of names) {
    const file = env[`${name}_FILE`];
    // Unset as configuration reads it (the original's variables may be empty): a file may stand in for it.
    const given = !isUnset(name, env[name]);
    if (file !== undefined) {
      if (given) {
        issues.push({ key: `${name}_FILE`, message: `${name} is set too; set one of them` });
        continue;
      }
      try {
        out[name] = await readSecret(file);
      } catch (err) {
        issues.push({ key: `${name}_FILE`, message: `cannot read ${file}: ${(err as Error).message}` });
      }
      continue;
    }
    if (credentials && !given) {
      try {
        out[name] = await readSecret(join(credentials, name));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') {
          issues.push({
            key: name,
            message: `cannot read the credential ${join(credentials, name)}: ${(err as Error).message}`,
          });
        }
      }
    }
  }
  if (issues.length > 0) throw Object.assign(new Error('secret files'), { issues });
  return out;
}
