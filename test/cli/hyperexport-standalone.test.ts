// hyperexport -standalone: no daemon. Credentials from GOVC_*, the harness's
// Temporal through TEMPORAL_ADDRESS, an export worker inside the hyperexport
// process, a VM of its own on the harness vcsim.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTestVm, sha256File } from '../export/helpers.js';
import { minioClient } from '../harness/minio-client.js';
import { runBin } from '../harness/run-bin.js';
import { expectValidCopy } from '../../src/formats/qcow2/test-judge.js';
import { diskLocalPath, vmDisks } from '../harness/vcsim-disks.js';

const services = inject('services');
const MiB = 1024 * 1024;
const workDirs: string[] = [];
afterAll(() => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hyperexport-sa-'));
  workDirs.push(dir);
  return dir;
}

function hyperexport(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  // Only the credentials and addresses a test gives: none from the environment of the run.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(GOVC_|TEMPORAL_|HYPERSDK_)/.test(k)),
  );
  return runBin('hyperexport', args, { ...inherited, NO_COLOR: '', ...env }, 110_000);
}

/** The vCenter and Temporal of the harness, state under `work`: what a user exports for -standalone. */
function standaloneEnv(work: string): Record<string, string> {
  return {
    GOVC_URL: services.vcsim.sdkUrl,
    GOVC_USERNAME: services.vcsim.username,
    GOVC_PASSWORD: services.vcsim.password,
    GOVC_INSECURE: '1',
    TEMPORAL_ADDRESS: services.temporal.address,
    TEMPORAL_NAMESPACE: services.temporal.namespace,
    HYPERSDK_DATA_DIR: join(work, 'state'),
    LOG_LEVEL: 'warn',
  };
}

describe('hyperexport -standalone', () => {
  it('exports with GOVC_* credentials and an in-process worker: files exist and disk hashes equal the source', async () => {
    const name = `hx-sa-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 2, sizeBytes: 8 * MiB, poweredOn: false });
    const work = workDir();
    const out = join(work, 'out');
    const env = standaloneEnv(work);

    const dry = await hyperexport(['-standalone', '-vm', vm.path, '-output', out, '-dry-run'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('Dry run through standalone mode');
    expect(dry.stdout).toContain(`${name}-disk2.vmdk`);
    expect(readdirSync(work)).not.toContain('out');

    const run = await hyperexport(['-standalone', '-vm', vm.path, '-output', out, '-interval', '0.2'], env);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      `${name}-disk1.vmdk`,
      `${name}-disk2.vmdk`,
      `${name}.mf`,
      `${name}.ovf`,
    ]);
    const exported = [
      await sha256File(join(out, `${name}-disk1.vmdk`)),
      await sha256File(join(out, `${name}-disk2.vmdk`)),
    ];
    expect(exported.sort()).toEqual([...vm.hashes.values()].sort());
    expect(run.stdout).toContain(`✔ ${vm.path} -> ${out}`);
    // The password never reaches the output.
    expect(run.stdout + run.stderr).not.toContain(services.vcsim.password);
  });

  it('-format qcow2: KVM-ready images qemu-img finds identical to the disks; -compress with it is refused (exit 2)', async () => {
    const name = `hx-q-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 8 * MiB, poweredOn: false });
    const work = workDir();
    const out = join(work, 'out');
    const env = standaloneEnv(work);
    const refused = await hyperexport(['-standalone', '-vm', vm.path, '-output', out, '-format', 'qcow2', '-compress'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('-format qcow2');

    const run = await hyperexport(['-standalone', '-vm', vm.path, '-output', out, '-format', 'qcow2', '-interval', '0.2'], env);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(readdirSync(out).sort()).toEqual([`${name}-disk1.qcow2`, `${name}.mf`, `${name}.ovf`]);
    const disk = await diskLocalPath(services, (await vmDisks(services, name))[0]!.backingFile);
    await expectValidCopy(join(out, `${name}-disk1.qcow2`), disk, 8 * MiB);
  });

  it('exports to the s3:// bucket the user names (their bucket, their credentials): no allowed_buckets needed', async () => {
    const name = `hx-s3-${randomBytes(3).toString('hex')}`;
    const vm = await createTestVm(services, name, { disks: 1, sizeBytes: 4 * MiB, poweredOn: false });
    const { minio } = services;
    const prefix = `standalone/${name}`;
    const run = await hyperexport(
      ['-standalone', '-vm', vm.path, '-output', `s3://${minio.bucket}/${prefix}`, '-interval', '0.2'],
      {
        ...standaloneEnv(workDir()),
        AWS_ENDPOINT_URL_S3: minio.endpoint,
        AWS_REGION: minio.region,
        AWS_ACCESS_KEY_ID: minio.accessKeyId,
        AWS_SECRET_ACCESS_KEY: minio.secretAccessKey,
        AWS_S3_FORCE_PATH_STYLE: '1',
      },
    );
    expect(run.code, run.stderr + run.stdout).toBe(0);
    // Not mistaken for a path of this machine (it was resolved into ./s3:/…).
    expect(run.stdout).toContain(`-> s3://${minio.bucket}/${prefix}`);
    const s3 = minioClient(services);
    try {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: minio.bucket, Prefix: `${prefix}/` }));
      expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(
        [`${prefix}/${name}-disk1.vmdk`, `${prefix}/${name}.mf`, `${prefix}/${name}.ovf`].sort(),
      );
    } finally {
      s3.destroy();
    }
  });

  it('without credentials it says which variables to set (exit 2)', async () => {
    const run = await hyperexport(['-standalone', '-vm', '/DC0/vm/x'], { HYPERSDK_DATA_DIR: workDir() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('GOVC_URL, GOVC_USERNAME and GOVC_PASSWORD');
  });

  it('wrong vCenter credentials exit 4 and name the variables', async () => {
    const run = await hyperexport(['-standalone', '-vm', '/DC0/vm/x', '-dry-run'], {
      GOVC_URL: services.vcsim.sdkUrl,
      GOVC_USERNAME: 'nobody',
      GOVC_PASSWORD: 'wrong-password',
      GOVC_INSECURE: '1',
      HYPERSDK_DATA_DIR: workDir(),
    });
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain('GOVC_USERNAME');
    expect(run.stderr).not.toContain('wrong-password');
  });

  it('never prints the userinfo of a GOVC_URL (user:password@), whether or not GOVC_USERNAME is set', async () => {
    const variants: Record<string, string>[] = [
      { GOVC_USERNAME: 'admin', GOVC_PASSWORD: 'other-secret-pw' },
      {},
    ];
    for (const extra of variants) {
      const run = await hyperexport(['-standalone', '-vm', '/DC0/vm/x', '-dry-run'], {
        GOVC_URL: 'https://user:secret-in-url@127.0.0.1:1/sdk',
        HYPERSDK_DATA_DIR: workDir(),
        ...extra,
      });
      expect(run.code, run.stderr).toBe(3);
      // It does name the vCenter it could not reach, without the userinfo.
      expect(run.stderr).toContain('https://127.0.0.1:1/sdk');
      expect(run.stdout + run.stderr).not.toMatch(/secret|user:/);
    }
  });
});
