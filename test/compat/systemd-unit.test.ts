// The original's systemd unit starts the daemon as
//   ExecStart=/usr/bin/hypervisord --config /etc/hypersdk/config.yaml
// with a config file in the keys the original README documents (VCenterURL,
// Username, Password, Insecure, DaemonAddr, LogLevel, DownloadWorkers). Here our
// hypervisord gets exactly that command line and that file, and nothing else: no
// GOVC_*, DAEMON_ADDR, TEMPORAL_* or HYPERSDK_* variables (the unit's own
// Environment= lines are placeholders an operator replaces, and in the original the
// environment would override the file anyway). So Temporal is the embedded one,
// the data directory the default under HOME. It must start and export.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dyingWithParent } from '../../src/devservices/process.js';
import { freePort } from '../../src/devservices/ports.js';
import { createTestVm } from '../export/helpers.js';
import { api, vmdkHashes, waitFor } from './helpers.js';
import { expectShape, submitResponse } from './original-schemas.js';

const services = inject('services');
const MiB = 1024 * 1024;
const hypervisord = fileURLToPath(new URL('../../bin/hypervisord.js', import.meta.url));

let child: ChildProcess | undefined;
let exited: Promise<void> = Promise.resolve();
let log = '';
let url = '';
let home = '';

beforeAll(async () => {
  // The service's WorkingDirectory and home (/var/lib/hypersdk in the unit).
  home = join(services.workDir, `unit-${randomBytes(3).toString('hex')}`);
  mkdirSync(home, { recursive: true });
  const port = await freePort();
  const configFile = join(home, 'config.yaml');
  writeFileSync(
    configFile,
    [
      `VCenterURL: "${services.vcsim.sdkUrl}"`,
      `Username: "${services.vcsim.username}"`,
      `Password: "${services.vcsim.password}"`,
      'Insecure: true',
      `DaemonAddr: "127.0.0.1:${port}"`,
      'LogLevel: INFO',
      'DownloadWorkers: 2',
      '',
    ].join('\n'),
  );
  url = `http://127.0.0.1:${port}`;
  // What systemd gives a service with no Environment= lines: PATH, HOME and little else.
  // PATH also holds the node that runs this test, for hypervisord.js's #!/usr/bin/env node.
  const env: NodeJS.ProcessEnv = {
    PATH: `${dirname(process.execPath)}${delimiter}/usr/local/bin:/usr/bin:/bin`,
    HOME: home,
    LANG: 'C.UTF-8',
  };
  const [command, args] = dyingWithParent(hypervisord, ['--config', configFile]);
  const started = spawn(command, args, { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child = started;
  started.stdout.on('data', (d: Buffer) => (log += d.toString()));
  started.stderr.on('data', (d: Buffer) => (log += d.toString()));
  exited = new Promise((resolve) => started.once('exit', () => resolve()));
  await waitFor(
    'hypervisord to answer /health on the DaemonAddr of the file',
    async () => {
      if (started.exitCode !== null) throw new Error(`hypervisord exited with ${started.exitCode}:\n${log}`);
      try {
        return (await api(url, 'GET', '/health')).status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    },
    90_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${log}`);
  });
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGTERM');
  await exited;
});

describe('hypervisord started by the original unit command line and config keys', () => {
  it('exports a VM from the VCenterURL of the file', async () => {
    const name = `unit-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 16 * MiB, poweredOn: false });
    // The default export root: <data dir>/exports, the data dir defaulting under HOME.
    const output = join(home, '.local', 'state', 'hypersdk', 'exports', name);
    const res = await api(url, 'POST', '/jobs/submit', {
      vm_path: vm.path,
      name,
      output_dir: output,
      format: 'ovf',
    });
    expect(res.status, res.text).toBe(200);
    const submitted = expectShape(submitResponse, res.body, 'POST /jobs/submit');
    expect(submitted.accepted, res.text).toBe(1);
    const id = submitted.job_ids[0]!;

    const status = await waitFor(`job ${id} to finish`, async () => {
      const s = (await api(url, 'GET', `/jobs/${id}`)).body as { status?: string } | undefined;
      return s?.status === 'completed' || s?.status === 'failed' || s?.status === 'cancelled'
        ? s.status
        : undefined;
    });
    const final = await api(url, 'GET', `/jobs/${id}`);
    expect(status, final.text).toBe('completed');
    expect(await vmdkHashes(output)).toEqual([...vm.hashes.values()].sort());
    expect(log, 'the password never reaches the log').not.toContain(services.vcsim.password);
  });
});
