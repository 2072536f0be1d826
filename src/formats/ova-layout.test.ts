import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateManifest } from '../export/ovf.js';
import { manifestByteSize, paxRecord, planOvaLayout, TAR_BLOCK, type OvaLayout, type OvaLayoutInput } from './ova-layout.js';

const GiB = 2 ** 30;
const MTIME = 1_700_000_000;

function input(disks: { name: string; sizeBytes: number }[], more: Partial<OvaLayoutInput> = {}): OvaLayoutInput {
  return {
    descriptor: { name: 'vm.ovf', sizeBytes: 1234 },
    manifest: { name: 'vm.mf', sizeBytes: manifestByteSize(['vm.ovf', ...disks.map((d) => d.name)]) },
    disks,
    mtime: MTIME,
    ...more,
  };
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Writes only the headers (sparse, data left as zeros): enough for a tar reader to walk the archive. */
function writeSkeleton(layout: OvaLayout): string {
  const dir = mkdtempSync(join(tmpdir(), 'hypersdk-ovalayout-'));
  dirs.push(dir);
  const path = join(dir, 'x.ova');
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, layout.totalSize);
    for (const m of layout.members) writeSync(fd, m.header, 0, m.header.length, m.headerOffset);
  } finally {
    closeSync(fd);
  }
  return path;
}

interface PyMember {
  name: string;
  size: number;
  offset_data: number;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  mtime: number;
}

/** Python's tarfile (an independent reader) lists the members and where it finds their data. */
function pythonMembers(path: string): PyMember[] {
  const script = `
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    print(json.dumps([dict(name=m.name, size=m.size, offset_data=m.offset_data, mode=m.mode, uid=m.uid, gid=m.gid, uname=m.uname, mtime=m.mtime) for m in t.getmembers()]))
`;
  return JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' })) as PyMember[];
}

describe('manifestByteSize', () => {
  it('equals the length of the manifest generateManifest writes once the hashes are known', () => {
    const names = ['vm.ovf', 'vm-disk1.vmdk', 'a-much-longer-name-disk2.vmdk', 'ünïcode-disk3.vmdk'];
    const manifest = generateManifest(names.map((name, i) => ({ name, sha256: String(i).repeat(64) })));
    expect(manifestByteSize(names)).toBe(Buffer.byteLength(manifest));
  });
});

describe('paxRecord', () => {
  it('counts its own length digits, across a digit boundary too', () => {
    for (const value of ['', 'x'.repeat(85), 'x'.repeat(86), 'x'.repeat(990), 'x'.repeat(1000)]) {
      const rec = paxRecord('comment', value);
      expect(Number(rec.slice(0, rec.indexOf(' ')))).toBe(Buffer.byteLength(rec));
    }
  });
});

describe('planOvaLayout', () => {
  it('lays out descriptor, manifest, then disks back to back, disk data on 4 KiB boundaries', () => {
    const layout = planOvaLayout(input([{ name: 'vm-disk1.vmdk', sizeBytes: 10 * GiB + 3 }, { name: 'vm-disk2.vmdk', sizeBytes: 5000 }]));
    expect(layout.members.map((m) => m.kind)).toEqual(['descriptor', 'manifest', 'disk', 'disk']);
    let at = 0;
    for (const m of layout.members) {
      expect(m.headerOffset).toBe(at);
      expect(m.dataOffset).toBe(m.headerOffset + m.header.length);
      expect(m.header.length % TAR_BLOCK).toBe(0);
      expect(m.endOffset).toBe(m.dataOffset + Math.ceil(m.sizeBytes / TAR_BLOCK) * TAR_BLOCK);
      at = m.endOffset;
    }
    for (const d of layout.disks) expect(d.dataOffset % 4096).toBe(0);
    expect(layout.endBlocksOffset).toBe(at);
    expect(layout.totalSize).toBe(at + 1024);
  });

  it('is deterministic', () => {
    const a = planOvaLayout(input([{ name: 'd.vmdk', sizeBytes: 9 * GiB }]));
    const b = planOvaLayout(input([{ name: 'd.vmdk', sizeBytes: 9 * GiB }]));
    expect(Buffer.concat(a.members.map((m) => m.header)).equals(Buffer.concat(b.members.map((m) => m.header)))).toBe(true);
  });

  it('is read back by Python tarfile: names, sizes (pax for ≥ 8 GiB and long names), data offsets, owner, mode, mtime', () => {
    const disks = [
      { name: 'vm-disk1.vmdk', sizeBytes: 8 * GiB }, // exactly 8 GiB: one more than ustar's octal holds
      { name: `${'d'.repeat(120)}/vm-disk2.vmdk`, sizeBytes: 8 * GiB - 1 }, // ustar prefix + name, no pax needed for the name
      { name: 'x'.repeat(180), sizeBytes: 70_000 }, // too long for ustar: pax path
      { name: 'ünïcode.vmdk', sizeBytes: 1 }, // not ASCII: pax path in UTF-8
      { name: 'empty.vmdk', sizeBytes: 0 },
    ];
    const layout = planOvaLayout(input(disks));
    const got = pythonMembers(writeSkeleton(layout));
    expect(got.map((m) => [m.name, m.size, m.offset_data])).toEqual(layout.members.map((m) => [m.name, m.sizeBytes, m.dataOffset]));
    for (const m of got) expect([m.mode, m.uid, m.gid, m.uname, m.mtime]).toEqual([0o644, 0, 0, '', MTIME]);
  });

  it('is listed by GNU tar with the right sizes', () => {
    const layout = planOvaLayout(input([{ name: 'vm-disk1.vmdk', sizeBytes: 20 * GiB + 7 }, { name: 'vm-disk2.vmdk', sizeBytes: 100 }]));
    const listing = execFileSync('tar', ['--warning=all', '-tvf', writeSkeleton(layout)], { encoding: 'utf8' });
    const rows = listing
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/))
      .map((f) => [f[5], Number(f[2])]);
    expect(rows).toEqual(layout.members.map((m) => [m.name, m.sizeBytes]));
  });

  it('with alignDisksTo 512 writes plain ustar headers for small disks with short names', () => {
    const layout = planOvaLayout(input([{ name: 'a.vmdk', sizeBytes: 3000 }, { name: 'b.vmdk', sizeBytes: 5 }], { alignDisksTo: 512 }));
    for (const m of layout.members) expect(m.header.length).toBe(TAR_BLOCK);
  });

  it('refuses names that could escape the extraction directory, duplicates and impossible sizes', () => {
    for (const name of ['', '/etc/passwd', '../x.vmdk', 'a/../b', 'a//b', 'dir/', 'new\nline']) {
      expect(() => planOvaLayout(input([{ name, sizeBytes: 1 }]))).toThrow(RangeError);
    }
    expect(() => planOvaLayout(input([{ name: 'vm.ovf', sizeBytes: 1 }]))).toThrow(/twice/);
    expect(() => planOvaLayout(input([{ name: 'a.vmdk', sizeBytes: -1 }]))).toThrow(RangeError);
    expect(() => planOvaLayout(input([{ name: 'a.vmdk', sizeBytes: 1.5 }]))).toThrow(RangeError);
    expect(() => planOvaLayout(input([], { alignDisksTo: 1000 }))).toThrow(RangeError);
  });
});
