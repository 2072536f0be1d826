// scripts/install-tools.sh's control flow: which tools it builds when named, and
// what it says before a cold build. The script runs from a copy in a scratch
// project with a scratch cache, so the real cache and .tools/bin stay untouched.
// `go` is a stand-in that "builds" instantly: the real builds take minutes (the
// tests of the tools themselves are every other integration test). For qemu-img,
// which comes from the system, PATH is one we control: the real commands minus
// qemu-img, apt-get, dnf, go and id, with stand-ins for those where a test wants them,
// so nothing is installed on the real system.
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const installScript = fileURLToPath(new URL('../../scripts/install-tools.sh', import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Commands a test provides itself (or leaves missing) instead of the real ones. */
const CONTROLLED = new Set(['qemu-img', 'apt-get', 'apt', 'dnf', 'yum', 'go', 'id']);
let systemBin: string | undefined;
/** One directory linking every command on the real PATH except the controlled ones. */
function systemWithoutControlled(): string {
  if (systemBin) return systemBin;
  const dir = mkdtempSync(join(tmpdir(), 'hx-sysbin-'));
  dirs.push(dir);
  for (const from of (process.env.PATH ?? '').split(':').filter((d) => d && existsSync(d))) {
    for (const name of readdirSync(from)) {
      if (CONTROLLED.has(name) || existsSync(join(dir, name))) continue;
      symlinkSync(join(from, name), join(dir, name));
    }
  }
  systemBin = dir;
  return dir;
}

function standIn(path: string, body: string): void {
  writeFileSync(path, `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(path, 0o755);
}

/** A project with only the script, an empty cache, and a `go` that writes the binary `go install` would. */
function scratch(): { root: string; cache: string; path: string; goLog: string } {
  const root = mkdtempSync(join(tmpdir(), 'hx-tools-'));
  dirs.push(root);
  mkdirSync(join(root, 'scripts'));
  copyFileSync(installScript, join(root, 'scripts/install-tools.sh'));
  const bin = join(root, 'fake-bin');
  mkdirSync(bin);
  const goLog = join(root, 'go.log');
  writeFileSync(
    join(bin, 'go'),
    `#!/usr/bin/env bash\necho "$*" >> '${goLog}'\n[[ $1 == install ]] || exit 1\npkg=\${2%@*}\nprintf '#!/bin/sh\\n' > "$GOBIN/\${pkg##*/}"\nchmod +x "$GOBIN/\${pkg##*/}"\n`,
  );
  chmodSync(join(bin, 'go'), 0o755);
  return { root, cache: join(root, 'cache'), path: `${bin}:${process.env.PATH ?? ''}`, goLog };
}

function run(root: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [join(root, 'scripts/install-tools.sh'), ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('install-tools.sh', () => {
  it('builds only the tools named, and lists them with rough build times before building', async () => {
    const { root, cache, path, goLog } = scratch();
    const first = await run(root, ['minio', 'toxiproxy'], { HYPERSDK_TOOLS_CACHE: cache, PATH: path });
    expect(first.code, first.stderr).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines[0]).toBe('install-tools: building 2 tool(s) from source with Go, once (later runs take a second):');
    expect(lines[1]).toMatch(/^ {2}minio +~\d+ (s|min)$/);
    expect(lines[2]).toMatch(/^ {2}toxiproxy +~\d+ (s|min)$/);
    expect(lines[3]).toMatch(/^install-tools: ~\d+ (s|min) in all on 2 cores/);
    // Each build is announced before it starts, and only the named ones ran.
    expect(lines.findIndex((l) => l.startsWith('install-tools: building toxiproxy'))).toBeLessThan(lines.findIndex((l) => l.startsWith('toxiproxy-server')));
    expect(readdirSync(join(root, '.tools/bin')).sort()).toEqual(['minio', 'toxiproxy-cli', 'toxiproxy-server']);
    expect(readdirSync(cache).sort()).toEqual(['minio', 'toxiproxy-cli', 'toxiproxy-server']);

    // Warm: no announcement, one "cached" line per binary, no go install.
    writeFileSync(goLog, '');
    const warm = await run(root, ['toxiproxy'], { HYPERSDK_TOOLS_CACHE: cache, PATH: path });
    expect(warm.code).toBe(0);
    expect(warm.stdout).not.toContain('install-tools:');
    expect(warm.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['toxiproxy-server', 'toxiproxy-cli']);
    expect(warm.stdout).toMatch(/cached/);
  });

  it('an unknown tool name is refused with the list of names', async () => {
    const { root, cache, path } = scratch();
    const run1 = await run(root, ['temporal', 'mysql'], { HYPERSDK_TOOLS_CACHE: cache, PATH: path });
    expect(run1.code).toBe(2);
    expect(run1.stderr).toContain("unknown tool 'mysql'; the tools are: temporal vcsim govc toxiproxy minio hyper2kvm moto qemu-img");
  });

  describe('qemu-img (from the system, not built)', () => {
    interface Setup {
      /** What `id -u` says. */
      uid: number;
      /** A qemu-img on PATH from the start. */
      qemuImg?: boolean;
      /** apt-get on PATH: one whose install of qemu-utils puts a qemu-img on PATH, or one that fails. */
      apt?: 'installs' | 'fails';
      /** A `go` on PATH (the stand-in of the other tests, which also does `go build -o`). */
      go?: boolean;
    }
    function qemuScratch(setup: Setup): { root: string; env: Record<string, string>; aptLog: string; installedDir: string } {
      const root = mkdtempSync(join(tmpdir(), 'hx-tools-q-'));
      dirs.push(root);
      mkdirSync(join(root, 'scripts'));
      copyFileSync(installScript, join(root, 'scripts/install-tools.sh'));
      // tools/vcsim is built from this repository's sources, keyed by their hash.
      mkdirSync(join(root, 'tools/vcsim'), { recursive: true });
      for (const f of ['go.mod', 'go.sum', 'main.go']) writeFileSync(join(root, 'tools/vcsim', f), `// ${f}\n`);
      const bin = join(root, 'fake-bin');
      const installedDir = join(root, 'installed-bin'); // where the stand-in apt-get "installs" to
      mkdirSync(bin);
      mkdirSync(installedDir);
      const aptLog = join(root, 'apt.log');
      standIn(join(bin, 'id'), `[[ $1 == -u ]] && echo ${setup.uid}`);
      if (setup.qemuImg) standIn(join(bin, 'qemu-img'), 'echo "qemu-img version 9.9.9 (stand-in)"');
      if (setup.apt === 'installs') {
        standIn(
          join(bin, 'apt-get'),
          `echo "$*" >> '${aptLog}'\n[[ $1 == install ]] && printf '#!/bin/sh\\necho "qemu-img version 7.2.0 (apt stand-in)"\\n' > '${installedDir}/qemu-img' && chmod +x '${installedDir}/qemu-img'\nexit 0`,
        );
      } else if (setup.apt === 'fails') {
        standIn(join(bin, 'apt-get'), `echo "$*" >> '${aptLog}'\n[[ $1 == install ]] && { echo "E: Unable to locate package qemu-utils"; exit 100; }\nexit 0`);
      }
      if (setup.go) {
        standIn(
          join(bin, 'go'),
          `case $1 in\n  install) pkg=\${2%@*}; printf '#!/bin/sh\\n' > "$GOBIN/\${pkg##*/}"; chmod +x "$GOBIN/\${pkg##*/}" ;;\n  build) while [[ $1 != -o ]]; do shift; done; printf '#!/bin/sh\\n' > "$2"; chmod +x "$2" ;;\n  *) exit 1 ;;\nesac`,
        );
      }
      const env = { HYPERSDK_TOOLS_CACHE: join(root, 'cache'), PATH: `${bin}:${installedDir}:${systemWithoutControlled()}` };
      return { root, env, aptLog, installedDir };
    }
    const aptCalls = (log: string): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

    it('a qemu-img on PATH is linked into .tools/bin, without apt-get and without Go', async () => {
      const { root, env, aptLog } = qemuScratch({ uid: 0, qemuImg: true, apt: 'installs' });
      const r = await run(root, ['qemu-img'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^qemu-img +9\.9\.9 +system +\(.*\/fake-bin\/qemu-img\)\n$/);
      expect(readlinkSync(join(root, '.tools/bin/qemu-img'))).toBe(join(root, 'fake-bin/qemu-img'));
      expect(aptCalls(aptLog)).toEqual([]);
    });

    it('missing, as root with apt-get: says so and how long, then installs qemu-utils and links its qemu-img', async () => {
      const { root, env, aptLog, installedDir } = qemuScratch({ uid: 0, apt: 'installs' });
      const r = await run(root, ['qemu-img'], env);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^install-tools: qemu-img is missing; installing the Debian package qemu-utils with apt-get \(~\d+ (s|min): /);
      expect(lines[1]).toMatch(/^qemu-img +7\.2\.0 +system/);
      expect(aptCalls(aptLog)).toEqual(['update -q', 'install -y -q --no-install-recommends qemu-utils']);
      expect(readlinkSync(join(root, '.tools/bin/qemu-img'))).toBe(join(installedDir, 'qemu-img'));
    });

    it('missing and not root: fails naming the package for Debian/Ubuntu and Fedora, and installs nothing', async () => {
      const { root, env, aptLog } = qemuScratch({ uid: 1000, apt: 'installs' });
      const r = await run(root, ['qemu-img'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('install-tools: qemu-img is not installed');
      expect(r.stderr).toContain('Debian/Ubuntu: sudo apt-get install qemu-utils');
      expect(r.stderr).toContain('Fedora:        sudo dnf install qemu-img');
      expect(aptCalls(aptLog)).toEqual([]);
      expect(existsSync(join(root, '.tools/bin/qemu-img'))).toBe(false);
    });

    it('missing, as root without apt-get (Fedora, say): the same clear failure', async () => {
      const { root, env } = qemuScratch({ uid: 0 });
      const r = await run(root, ['qemu-img'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('sudo dnf install qemu-img');
    });

    it('a failing apt-get is reported with the end of its output', async () => {
      const { root, env } = qemuScratch({ uid: 0, apt: 'fails' });
      const r = await run(root, ['qemu-img'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("install-tools: 'apt-get install qemu-utils' did not give a qemu-img");
      expect(r.stderr).toContain('  E: Unable to locate package qemu-utils');
    });

    it("the demo's tools (temporal vcsim govc) do not need qemu-img", async () => {
      const { root, env, aptLog } = qemuScratch({ uid: 1000, go: true });
      const r = await run(root, ['temporal', 'vcsim', 'govc'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(`${r.stdout}${r.stderr}`).not.toContain('qemu');
      expect(readdirSync(join(root, '.tools/bin')).sort()).toEqual(['govc', 'temporal', 'vcsim']);
      expect(aptCalls(aptLog)).toEqual([]);
    });
  });
});
