// A disk image for the image-writing transfer tests: data at the start, an
// unaligned run in the middle and up to the very end, zeros elsewhere; every data
// byte non-zero, so a run of data never hides a zero block.

const MiB = 1024 * 1024;

export function patternedDisk(size: number): Buffer {
  const disk = Buffer.alloc(size);
  let x = 0x9e3779b9;
  const fill = (start: number, length: number): void => {
    for (let i = start; i < start + length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      disk[i] = (x & 0xff) | 1;
    }
  };
  fill(0, 2 * MiB + 77);
  fill(size / 2 + 4096 + 3, 3 * MiB);
  fill(size - MiB - 1000, MiB + 1000);
  return disk;
}
