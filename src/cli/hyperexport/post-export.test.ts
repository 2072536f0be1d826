// -verify and -compress on real files in a temporary directory: a damaged file is
// caught by name, and the compressed OVA holds exactly the archive's bytes.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { create } from 'tar';
import type { JobResult } from '../../jobs/job-schemas.js';
import { afterExport, PostExportError } from './post-export.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function exportDir(files: Record<string, string>): { dir: string; result: JobResult } {
  const dir = mkdtempSync(join(tmpdir(), 'hx-post-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  writeFileSync(join(dir, 'vm.mf'), Object.entries(files).map(([name, content]) => `SHA256(${name})= ${sha(content)}\n`).join(''));
  const result: JobResult = { vm_name: 'vm', method: 'ovf', output_dir: dir, ovf_path: join(dir, 'vm.ovf'), manifest_path: join(dir, 'vm.mf'), files: [], output_files: [], file_details: [], total_size: 0, duration: 1_000_000_000, duration_seconds: 1, success: true, export_method: 'ovf' };
  return { dir, result };
}

describe('-verify', () => {
  it('passes for intact files and writes checksums.txt in sha256sum format', async () => {
    const { dir, result } = exportDir({ 'vm.ovf': '<Envelope/>', 'vm-disk1.vmdk': 'disk bytes' });
    const outcome = await afterExport(result, { verify: true, compress: false });
    expect(outcome.verified).toBe(2);
    const lines = readFileSync(join(dir, 'checksums.txt'), 'utf8').trim().split('\n').sort();
    expect(lines).toEqual([`${sha('<Envelope/>')}  vm.ovf`, `${sha('disk bytes')}  vm-disk1.vmdk`, `${sha(readFileSync(join(dir, 'vm.mf')))}  vm.mf`].sort());
  });

  it('names the file whose bytes no longer match the manifest', async () => {
    const { dir, result } = exportDir({ 'vm.ovf': '<Envelope/>', 'vm-disk1.vmdk': 'disk bytes' });
    writeFileSync(join(dir, 'vm-disk1.vmdk'), 'disk bytez');
    const failure = await afterExport(result, { verify: true, compress: false }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PostExportError);
    expect((failure as Error).message).toMatch(/^-verify: vm-disk1\.vmdk has SHA-256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
    expect(existsSync(join(dir, 'checksums.txt'))).toBe(false);
  });

  it('checks the members of an OVA against the manifest inside it, and -compress gzips the archive', async () => {
    const { dir, result } = exportDir({ 'vm.ovf': '<Envelope/>', 'vm-disk1.vmdk': 'disk bytes' });
    const ova = join(dir, 'vm.ova');
    await create({ file: ova, cwd: dir, portable: true }, ['vm.ovf', 'vm.mf', 'vm-disk1.vmdk']);
    const archive = readFileSync(ova);
    const outcome = await afterExport({ ...result, ova_path: ova }, { verify: true, compress: true });
    expect(outcome.verified).toBe(2);
    expect(outcome.compressedPath).toBe(`${ova}.gz`);
    expect(existsSync(ova)).toBe(false);
    expect(gunzipSync(readFileSync(`${ova}.gz`)).equals(archive)).toBe(true);
    expect(readFileSync(join(dir, 'checksums.txt'), 'utf8')).toBe(`${sha(readFileSync(`${ova}.gz`))}  vm.ova.gz\n`);
  });

  it('never replaces a checksums.txt or a .ova.gz the export did not write', async () => {
    const { dir, result } = exportDir({ 'vm.ovf': '<Envelope/>', 'vm-disk1.vmdk': 'disk bytes' });
    writeFileSync(join(dir, 'checksums.txt'), 'the user\'s\n');
    const verify = await afterExport(result, { verify: true, compress: false }).catch((e: unknown) => e);
    expect((verify as Error).message).toContain('checksums.txt already exists and this export did not write it');
    expect(readFileSync(join(dir, 'checksums.txt'), 'utf8')).toBe('the user\'s\n');

    const ova = join(dir, 'vm.ova');
    await create({ file: ova, cwd: dir, portable: true }, ['vm.ovf', 'vm.mf', 'vm-disk1.vmdk']);
    writeFileSync(`${ova}.gz`, 'an earlier export');
    const compress = await afterExport({ ...result, ova_path: ova }, { verify: false, compress: true }).catch((e: unknown) => e);
    expect((compress as Error).message).toContain('vm.ova.gz already exists and this export did not write it');
    expect(readFileSync(`${ova}.gz`, 'utf8')).toBe('an earlier export');
    expect(existsSync(ova)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('says so when the files are not on this machine', async () => {
    const { result } = exportDir({ 'vm.ovf': 'x' });
    const failure = await afterExport({ ...result, manifest_path: '/nonexistent/vm.mf' }, { verify: true, compress: false }).catch((e: unknown) => e);
    expect((failure as Error).message).toContain('not readable from this machine');
  });
});
