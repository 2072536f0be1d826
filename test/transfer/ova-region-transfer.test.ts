// The transfer engine streaming disks straight into their places inside one OVA
// (no second copy): in parallel, across a dropped connection, and across a source
// that ignores Range (the writer starts over over an earlier attempt's bytes).
// GNU tar extracts every disk and Python's hashlib judges it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateManifest } from '../../src/export/ovf.js';
import { manifestByteSize, planOvaLayout, type OvaLayout } from '../../src/formats/ova-layout.js';
import { createOvaPartial, openOvaRegionWriter, writeOvaHeaders } from '../../src/storage/ova-region-writer.js';
import { transferDisk } from '../../src/transfer/transfer-disk.js';
import type { TransferCheckpoint, TransferResult } from '../../src/transfer/types.js';
import { failureType } from './helpers/run.js';
import { sha256Hex, startSourceServer, type SourceServer } from './helpers/source-server.js';

const run = promisify(execFile);
const MIB = 1024 * 1024;

/** `mib` MiB, random only where `data` says: a thin disk. */
function thin(mib: number, data: (i: number) => boolean): Buffer {
  const out = Buffer.alloc(mib * MIB);
  for (let i = 0; i < mib; i++) if (data(i)) randomBytes(MIB).copy(out, i * MIB);
  return out;
}

async function tarMemberSha256(ova: string, member: string): Promise<string> {
  const script = `set -o pipefail; tar -xOf "$1" "$2" | python3 -c 'import hashlib,sys
h = hashlib.sha256()
for b in iter(lambda: sys.stdin.buffer.read(1 << 20), b""): h.update(b)
print(h.hexdigest())'`;
  return (await run('bash', ['-c', script, 'judge', ova, member])).stdout.trim();
}

describe('transferDisk into an OVA region', () => {
  let dir: string;
  const servers: SourceServer[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hyper-ova-region-'));
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function serve(data: Buffer, behaviour: Parameters<typeof startSourceServer>[1] = {}): Promise<SourceServer> {
    const s = await startSourceServer(0, behaviour);
    s.replace(data);
    servers.push(s);
    return s;
  }

  function layoutFor(disks: { name: string; size: number }[]): { layout: OvaLayout; descriptor: string } {
    const descriptor = `<?xml version="1.0"?>\n<Envelope>${disks.map((d) => `<File href="${d.name}"/>`).join('')}</Envelope>\n`;
    const layout = planOvaLayout({
      descriptor: { name: 'vm.ovf', sizeBytes: Buffer.byteLength(descriptor) },
      manifest: { name: 'vm.mf', sizeBytes: manifestByteSize(['vm.ovf', ...disks.map((d) => d.name)]) },
      disks: disks.map((d) => ({ name: d.name, sizeBytes: d.size })),
      mtime: 1_700_000_000,
    });
    return { layout, descriptor };
  }

  async function transfer(
    partial: string,
    layout: OvaLayout,
    disk: number,
    url: string,
    checkpoint?: TransferCheckpoint,
  ): Promise<{ result?: TransferResult; error?: unknown; checkpoints: TransferCheckpoint[] }> {
    const d = layout.disks[disk]!;
    const writer = await openOvaRegionWriter(partial, { name: d.name, dataOffset: d.dataOffset, sizeBytes: d.sizeBytes }, { checkpoint });
    const checkpoints: TransferCheckpoint[] = [];
    try {
      const result = await transferDisk({
        source: { url, headers: {} },
        writer,
        checkpoint,
        signal: new AbortController().signal,
        checkpointEveryMs: 50,
        onCheckpoint: (cp) => checkpoints.push(JSON.parse(JSON.stringify(cp)) as TransferCheckpoint),
      });
      return { result, checkpoints };
    } catch (error) {
      return { error, checkpoints };
    }
  }

  async function publish(partial: string, layout: OvaLayout, descriptor: string, results: TransferResult[]): Promise<string> {
    const manifest = generateManifest([
      { name: 'vm.ovf', sha256: sha256Hex(Buffer.from(descriptor)) },
      ...layout.disks.map((d, i) => ({ name: d.name, sha256: results[i]!.sha256 })),
    ]);
    await writeOvaHeaders(partial, layout, { descriptor, manifest });
    const ova = join(dir, 'vm.ova');
    await rename(partial, ova);
    return ova;
  }

  it('streams two thin disks in parallel into their places; each extracts with its source SHA-256, holes kept', async () => {
    const a = await serve(thin(24, (i) => i < 2 || i === 12 || i === 23));
    const b = await serve(Buffer.concat([thin(8, (i) => i % 3 === 0), randomBytes(777)]));
    const { layout, descriptor } = layoutFor([
      { name: 'vm-disk1.vmdk', size: a.data.length },
      { name: 'vm-disk2.vmdk', size: b.data.length },
    ]);
    const partial = join(dir, '.vm.ova.partial');
    await createOvaPartial(partial, layout.totalSize);
    const [ra, rb] = await Promise.all([transfer(partial, layout, 0, a.url), transfer(partial, layout, 1, b.url)]);
    expect(ra.error).toBeUndefined();
    expect(rb.error).toBeUndefined();
    expect(ra.result!.sha256).toBe(a.sha256);
    expect(rb.result!.sha256).toBe(b.sha256);
    const ova = await publish(partial, layout, descriptor, [ra.result!, rb.result!]);
    expect(await tarMemberSha256(ova, 'vm-disk1.vmdk')).toBe(a.sha256);
    expect(await tarMemberSha256(ova, 'vm-disk2.vmdk')).toBe(b.sha256);
    // 4 + 3 MiB of data and a 777-byte tail; 16 + 5 MiB of zeros stayed holes.
    expect(statSync(ova).blocks * 512).toBeLessThan(9 * MIB);
  });

  it('resumes a dropped transfer from its checkpoint, across a hole', async () => {
    const size = 32 * MIB;
    const a = await serve(thin(32, (i) => i < 4 || i >= 28), { dropAfterBytes: 20 * MIB, bytesPerSecond: 64 * MIB });
    const { layout, descriptor } = layoutFor([{ name: 'vm-disk1.vmdk', size }]);
    const partial = join(dir, '.vm.ova.partial');
    await createOvaPartial(partial, layout.totalSize);
    const first = await transfer(partial, layout, 0, a.url);
    expect(failureType(first.error)).toBe('TransferFailed');
    // A killed worker: the last checkpoint of the streaming, not the one written while failing.
    const crash = first.checkpoints.at(-2);
    expect(crash!.offset).toBeGreaterThan(4 * MIB); // inside the zero run
    a.behaviour.dropAfterBytes = undefined;
    a.behaviour.bytesPerSecond = undefined;
    const second = await transfer(partial, layout, 0, a.url, crash);
    expect(second.error).toBeUndefined();
    expect(second.result!.resumedFromOffset).toBe(crash!.offset);
    expect(second.result!.sha256).toBe(a.sha256);
    const ova = await publish(partial, layout, descriptor, [second.result!]);
    expect(await tarMemberSha256(ova, 'vm-disk1.vmdk')).toBe(a.sha256);
  });

  it('starts over when the source ignores Range, and no byte of the abandoned attempt survives in the OVA', async () => {
    const size = 16 * MIB;
    const a = await serve(randomBytes(size), { dropAfterBytes: 10 * MIB, bytesPerSecond: 64 * MIB });
    const { layout, descriptor } = layoutFor([{ name: 'vm-disk1.vmdk', size }]);
    const partial = join(dir, '.vm.ova.partial');
    await createOvaPartial(partial, layout.totalSize);
    const first = await transfer(partial, layout, 0, a.url);
    expect(failureType(first.error)).toBe('TransferFailed');
    // Now the server answers 200 from byte 0 with content that is zero where the first attempt wrote data.
    a.replace(thin(16, (i) => i === 15));
    a.behaviour = { honourRange: false };
    const second = await transfer(partial, layout, 0, a.url, first.checkpoints.at(-1));
    expect(second.error).toBeUndefined();
    expect(second.result!.restartedFromZero).toBe(true);
    expect(second.result!.sha256).toBe(a.sha256);
    const ova = await publish(partial, layout, descriptor, [second.result!]);
    expect(await tarMemberSha256(ova, 'vm-disk1.vmdk')).toBe(a.sha256);
  });
});
