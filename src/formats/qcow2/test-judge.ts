// qemu-img's verdicts on an image, as vitest assertions.
import { expect } from 'vitest';
import { qemuImg } from './test-support.js';

/**
 * qemu-img's verdicts on a fixed VHD: its vpc driver reads it as a fixed VHD of
 * exactly the disk's size, identical to the raw source. (qemu-img check has no
 * check for vpc images: it answers "This image format does not support checks".)
 */
export async function expectVhdCopy(vhdPath: string, rawPath: string, virtualSize: number): Promise<void> {
  const info = await qemuImg('info', '--output=json', '-f', 'vpc', vhdPath);
  expect(info.code, info.stderr).toBe(0);
  const parsed = JSON.parse(info.stdout) as { format: string; 'virtual-size': number };
  expect(parsed.format).toBe('vpc');
  expect(parsed['virtual-size']).toBe(virtualSize);
  const compare = await qemuImg('compare', '-f', 'vpc', '-F', 'raw', vhdPath, rawPath);
  expect(compare.stdout).toContain('Images are identical');
  expect(compare.code).toBe(0);
}

/** qemu-img's verdicts on a finished image: check clean, identical to the raw source, the right format and size. */
export async function expectValidCopy(qcow2Path: string, rawPath: string, virtualSize: number): Promise<{ storedDataBytes: number }> {
  const check = await qemuImg('check', qcow2Path);
  expect(check.stdout + check.stderr).toContain('No errors were found');
  expect(check.code).toBe(0);
  const compare = await qemuImg('compare', '-f', 'qcow2', '-F', 'raw', qcow2Path, rawPath);
  expect(compare.stdout).toContain('Images are identical');
  expect(compare.code).toBe(0);
  const info = await qemuImg('info', '--output=json', qcow2Path);
  expect(info.code).toBe(0);
  const parsed = JSON.parse(info.stdout) as { format: string; 'virtual-size': number; 'format-specific'?: { data?: { compat?: string } } };
  expect(parsed.format).toBe('qcow2');
  expect(parsed['virtual-size']).toBe(virtualSize);
  expect(parsed['format-specific']?.data?.compat).toBe('1.1'); // version 3
  const map = await qemuImg('map', '--output=json', '-f', 'qcow2', qcow2Path);
  expect(map.code).toBe(0);
  const ranges = JSON.parse(map.stdout) as { length: number; data: boolean }[];
  return { storedDataBytes: ranges.filter((r) => r.data).reduce((sum, r) => sum + r.length, 0) };
}
