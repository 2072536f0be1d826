/**
 * Disk helpers for tests against the harness vcsim.
 *
 * vcsim keeps each datastore as a plain local directory (the datastore's info.url)
 * under services.vcsim.dataDir, so a test can put known bytes into a VM's disk
 * backing file and check what an export or a datastore download returns.
 *
 *   vmDisks(target, vm)                      -> the VM's disks: key, label, backingFile, capacityBytes
 *   datastoreLocalPath(target, datastore)    -> local directory of a datastore
 *   diskLocalPath(target, backingFile)       -> local path of "[LocalDS_0] vm/disk1.vmdk"
 *   addDisk(target, vm, { name, sizeBytes }) -> creates + attaches a disk (govc vm.disk.create)
 *   writeDiskContent(path, sizeBytes, seed)  -> fills a file with deterministic bytes, returns SHA-256
 *   writeVmDiskContent(target, vm, ...)      -> the same for a VM's disk, found by key (or its first disk)
 *   diskContentRange(seed, start, end)       -> the bytes writeDiskContent put at [start, end)
 *
 * `target` is anything with { govc, vcsim: { host, username, password } }: the
 * injected ServiceInfo works as is.
 *
 * Content is AES-128-CTR keystream keyed by the seed: incompressible, different for
 * every seed, generated at GB/s, and any range can be recomputed without reading the
 * file. vcsim creates "<disk>.vmdk" and an empty "<disk>-flat.vmdk" (as ESXi would);
 * ExportSnapshot serves the former, the datastore download of a real ESXi disk the
 * latter, so writeVmDiskContent makes "-flat" a hard link of the written file: both
 * names then hold the same bytes.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { govc, type GovcTarget } from './govc.js';

export interface VcsimDisk {
  key: number;
  label: string;
  /** "[LocalDS_0] DC0_H0_VM0/disk1.vmdk" */
  backingFile: string;
  capacityBytes: number;
}

export interface WrittenDisk {
  path: string;
  sizeBytes: number;
  sha256: string;
}

interface GovcDevice {
  key: number;
  deviceInfo?: { label?: string };
  backing?: { fileName?: string };
  capacityInBytes?: number;
  capacityInKB?: number;
}

/** The VM's virtual disks, in device order (govc vm.info -json). */
export async function vmDisks(target: GovcTarget, vm: string): Promise<VcsimDisk[]> {
  const out = JSON.parse(await govc(target, ['vm.info', '-json', vm])) as {
    virtualMachines: { config: { hardware: { device: (GovcDevice & { capacityInBytes?: number })[] } } }[];
  };
  const devices = out.virtualMachines[0]?.config.hardware.device ?? [];
  return devices
    .filter(
      (d) =>
        d.backing?.fileName?.endsWith('.vmdk') &&
        (d.capacityInBytes !== undefined || d.capacityInKB !== undefined),
    )
    .map((d) => ({
      key: d.key,
      label: d.deviceInfo?.label ?? '',
      backingFile: d.backing?.fileName ?? '',
      capacityBytes: d.capacityInBytes ?? (d.capacityInKB ?? 0) * 1024,
    }));
}

/** Local directory behind a vcsim datastore (its info.url). */
export async function datastoreLocalPath(target: GovcTarget, datastore: string): Promise<string> {
  const out = JSON.parse(await govc(target, ['datastore.info', '-json', datastore])) as {
    datastores: { info: { url: string } }[];
  };
  const url = out.datastores[0]?.info.url;
  if (!url) throw new Error(`datastore ${datastore} has no local url`);
  return url;
}

/** Local filesystem path of a backing file such as "[LocalDS_0] DC0_H0_VM0/disk1.vmdk". */
export async function diskLocalPath(target: GovcTarget, backingFile: string): Promise<string> {
  const m = /^\[([^\]]+)\]\s*(.+)$/.exec(backingFile);
  if (!m?.[1] || !m[2]) throw new Error(`not a datastore path: ${backingFile}`);
  return join(await datastoreLocalPath(target, m[1]), m[2]);
}

/**
 * Creates a disk of `sizeBytes` (default 1 MiB) named `name` ("<vm>/<disk>", no
 * extension) and attaches it to the VM. Returns the new disk as vmDisks reports it.
 */
export async function addDisk(
  target: GovcTarget,
  vm: string,
  options: { name: string; sizeBytes?: number; datastore?: string; thick?: boolean },
): Promise<VcsimDisk & { localPath: string }> {
  const before = new Set((await vmDisks(target, vm)).map((d) => d.key));
  const sizeKb = Math.max(1, Math.ceil((options.sizeBytes ?? 1024 * 1024) / 1024));
  const args = ['vm.disk.create', '-vm', vm, '-name', options.name, '-size', `${sizeKb}KB`];
  if (options.datastore) args.push('-ds', options.datastore);
  if (options.thick) args.push('-thick');
  await govc(target, args);
  const added = (await vmDisks(target, vm)).find((d) => !before.has(d.key));
  if (!added) throw new Error(`govc vm.disk.create added no disk to ${vm}`);
  return { ...added, localPath: await diskLocalPath(target, added.backingFile) };
}

const CHUNK = 4 * 1024 * 1024;

function keyFor(seed: number | string): Buffer {
  return createHash('sha256').update(`hypersdk-test-disk:${seed}`).digest().subarray(0, 16);
}

function ivAt(blockIndex: bigint): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(blockIndex & 0xffffffffffffffffn, 8);
  return iv;
}

/** Writes `sizeBytes` of deterministic pseudo-random bytes to `path` (truncating it); returns their SHA-256. */
export async function writeDiskContent(
  path: string,
  sizeBytes: number,
  seed: number | string = 1,
): Promise<WrittenDisk> {
  const cipher = createCipheriv('aes-128-ctr', keyFor(seed), ivAt(0n));
  const zeros = Buffer.alloc(CHUNK);
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    for (let written = 0; written < sizeBytes;) {
      const n = Math.min(CHUNK, sizeBytes - written);
      const block = cipher.update(zeros.subarray(0, n));
      hash.update(block);
      await file.write(block, 0, block.length, written);
      written += n;
    }
  } finally {
    await file.close();
  }
  return { path, sizeBytes, sha256: hash.digest('hex') };
}

/** The bytes writeDiskContent(…, seed) wrote at [start, end), computed without the file. */
export function diskContentRange(seed: number | string, start: number, end: number): Buffer {
  const firstBlock = Math.floor(start / 16);
  const cipher = createCipheriv('aes-128-ctr', keyFor(seed), ivAt(BigInt(firstBlock)));
  const skip = start - firstBlock * 16;
  return cipher.update(Buffer.alloc(end - start + skip)).subarray(skip);
}

/**
 * Fills one disk of a vcsim VM (by key; default its first disk) with deterministic
 * content and makes "<disk>-flat.vmdk" the same file. Returns path, size and SHA-256.
 */
export async function writeVmDiskContent(
  target: GovcTarget,
  vm: string,
  options: { sizeBytes: number; seed?: number | string; diskKey?: number },
): Promise<WrittenDisk & { disk: VcsimDisk }> {
  const disks = await vmDisks(target, vm);
  const disk = options.diskKey === undefined ? disks[0] : disks.find((d) => d.key === options.diskKey);
  if (!disk)
    throw new Error(
      `VM ${vm} has no disk${options.diskKey === undefined ? '' : ` with key ${options.diskKey}`}`,
    );
  const path = await diskLocalPath(target, disk.backingFile);
  const written = await writeDiskContent(path, options.sizeBytes, options.seed ?? 1);
  const flat = path.replace(/\.vmdk$/, '-flat.vmdk');
  if (flat !== path && existsSync(flat)) {
    await rm(flat, { force: true });
    await link(path, flat);
  }
  return { ...written, disk };
}
