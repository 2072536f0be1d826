import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The helper binaries that scripts/install-tools.sh builds (or, for qemu-img, finds
 * on the system or installs from qemu-utils) and links into .tools/bin.
 */
export type ToolName = 'temporal' | 'vcsim' | 'govc' | 'minio' | 'toxiproxy-server' | 'toxiproxy-cli' | 'qemu-img';

// src/devservices/ and dist/devservices/ are both two levels below the project root.
export const projectRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

export function toolPath(name: ToolName): string {
  const dir = process.env.HYPERSDK_TOOLS_BIN ?? join(projectRoot, '.tools', 'bin');
  const path = join(dir, name);
  if (!existsSync(path)) {
    throw new Error(`${name} is not installed (looked for ${path}). Run 'npm run tools' to ${name === 'qemu-img' ? 'install' : 'build'} it.`);
  }
  return path;
}

/** qemu-img, the independent judge of the disk images the format tests write (Debian qemu-utils). */
export function qemuImgPath(): string {
  return toolPath('qemu-img');
}
