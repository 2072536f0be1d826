// The one-command demo: a vSphere simulator whose VM disks hold real data, the
// hypersdk daemon with its embedded Temporal, and an export driven through
// hyperctl exactly as hyper2kvm drives it. Then it checks every SHA-256.
// It needs the Temporal CLI, vcsim and govc only (`npm run demo` builds just those).
//
//   npm run demo            run it and stop everything at the end
//   npm run demo -- --keep  leave the daemon and the Temporal UI running (Ctrl-C stops)
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { daemonCommand } from '../src/daemon/process-settings.js';
import { dyingWithParent } from '../src/devservices/process.js';
import { freePort } from '../src/devservices/ports.js';
import { projectRoot } from '../src/devservices/tools.js';
import { toolPath } from '../src/devservices/tools.js';
import { startVcsim } from '../src/devservices/vcsim.js';
import { vmDisks, addDisk, writeVmDiskContent } from '../src/devservices/vcsim-disks.js';
import { parseManifest } from '../src/export/ovf.js';

const MiB = 1024 * 1024;
const VM = 'DC0_H0_VM0';
const DISK_BYTES = Number(process.env.DEMO_DISK_MIB ?? 128) * MiB;
const keep = process.argv.includes('--keep');
const say = (line: string) => process.stdout.write(`\n==> ${line}\n`);

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, echo = true): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (echo) process.stdout.write(d);
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? 1, out }));
  });
}

async function main(): Promise<number> {
  const startedAt = Date.now();
  const demoDir = join(projectRoot, '.demo');
  rmSync(demoDir, { recursive: true, force: true });
  mkdirSync(demoDir, { recursive: true });

  say('Starting vcsim (VMware vSphere simulator) with the default inventory');
  const vcsim = await startVcsim({ workDir: demoDir });
  const target = { govc: toolPath('govc'), vcsim };
  let daemon: ChildProcess | undefined;
  try {
    if ((await vmDisks(target, VM)).length < 2) await addDisk(target, VM, { name: `${VM}/data`, sizeBytes: DISK_BYTES });
    const source = new Map<string, string>();
    for (const [i, disk] of (await vmDisks(target, VM)).entries()) {
      const written = await writeVmDiskContent(target, VM, { sizeBytes: DISK_BYTES, seed: `demo-${i}`, diskKey: disk.key });
      source.set(disk.label, written.sha256);
      console.log(`    ${disk.label}: ${DISK_BYTES / MiB} MiB of data, SHA-256 ${written.sha256}`);
    }

    const port = await freePort();
    const daemonUrl = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      GOVC_URL: vcsim.sdkUrl,
      GOVC_USERNAME: vcsim.username,
      GOVC_PASSWORD: vcsim.password,
      GOVC_INSECURE: '1', // vcsim's certificate is self-signed
      DAEMON_ADDR: `127.0.0.1:${port}`,
      XDG_STATE_HOME: join(demoDir, 'state'),
      LOG_LEVEL: 'warn',
      HYPERVISOR_URL: daemonUrl,
      NO_COLOR: process.env.NO_COLOR ?? '',
    };
    say('Starting hypervisord (REST gateway + export worker + embedded Temporal)');
    let daemonLog = '';
    const command = daemonCommand(join(projectRoot, 'bin/hypervisord.js'), [], env);
    daemon = spawn(...dyingWithParent(process.execPath, command.args), { env: command.env, stdio: ['ignore', 'ignore', 'pipe'] });
    daemon.stderr!.on('data', (d: Buffer) => {
      daemonLog += d.toString();
      for (const line of d.toString().split('\n')) if (line.startsWith('hypervisord:')) console.log(`    ${line}`);
    });
    for (let i = 0; i < 300 && !daemonLog.includes('hypervisord: ready'); i++) {
      if (daemon.exitCode !== null) throw new Error(`hypervisord exited:\n${daemonLog}`);
      await sleep(200);
    }
    if (!daemonLog.includes('hypervisord: ready')) throw new Error(`hypervisord did not start in 60 s:\n${daemonLog}`);
    const uiUrl = /Temporal UI: (\S+)/.exec(daemonLog)?.[1];

    const hyperctl = join(projectRoot, 'bin/hyperctl.js');
    say(`hyperctl submit -vm /DC0/vm/${VM} -output ${VM} -snapshot   (the VM is running: export a snapshot)`);
    const submitted = await run(process.execPath, [hyperctl, 'submit', '-vm', `/DC0/vm/${VM}`, '-output', VM, '-snapshot'], env);
    const jobId = /Job ID: (\S+)/.exec(submitted.out)?.[1];
    if (submitted.code !== 0 || !jobId) throw new Error('submit failed');

    say(`hyperctl watch -id ${jobId}`);
    const watched = await run(process.execPath, [hyperctl, 'watch', '-id', jobId], env);
    if (watched.code !== 0) throw new Error(`the export did not complete (exit ${watched.code})`);

    const job = JSON.parse((await run(process.execPath, [hyperctl, 'query', '-id', jobId, '-json'], env, false)).out) as {
      jobs?: { result?: { ovf_path?: string; output_dir?: string } }[];
      result?: { ovf_path?: string; output_dir?: string };
    };
    const result = job.jobs?.[0]?.result ?? job.result;
    const outputDir = result?.output_dir;
    if (!outputDir) throw new Error('no output directory in the job result');

    say(`Checking ${outputDir}`);
    const manifestFile = readFileSync(join(outputDir, `${VM}.mf`), 'utf8');
    let ok = true;
    for (const [name, expected] of parseManifest(manifestFile)) {
      const actual = await sha256File(join(outputDir, name));
      const match = actual === expected;
      ok &&= match;
      console.log(`    ${match ? 'OK ' : 'BAD'} ${name}  ${actual}`);
    }
    const exportedDisks = [...parseManifest(manifestFile)].filter(([n]) => n.endsWith('.vmdk')).map(([, h]) => h).sort();
    const sourceDisks = [...source.values()].sort();
    const sameAsSource = JSON.stringify(exportedDisks) === JSON.stringify(sourceDisks);
    ok &&= sameAsSource;
    console.log(`    disks ${sameAsSource ? 'identical to' : 'DIFFERENT from'} the source VM's (SHA-256)`);
    say(ok ? `Export verified in ${Math.round((Date.now() - startedAt) / 1000)} s. Files: ${outputDir}` : 'Verification FAILED');
    if (uiUrl) console.log(`    Temporal UI: ${uiUrl}/namespaces/default/workflows/${jobId}`);

    if (keep && ok) {
      say('Running until Ctrl-C (--keep)');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    return ok ? 0 : 1;
  } finally {
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((resolve) => daemon!.once('exit', resolve));
    }
    await vcsim.stop();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`demo: ${(err as Error).message}`);
    process.exitCode = 1;
  },
);
