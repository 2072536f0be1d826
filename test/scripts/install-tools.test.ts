// scripts/install-tools.sh's control flow: which tools it builds when named, and
// what it says before a cold build. The script runs from a copy in a scratch
// project with a scratch cache, so the real cache and .tools/bin stay untouched.
// `go` is a stand-in that "builds" instantly: the real builds take minutes (the
// tests of the tools themselves are every other integration test).
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../scripts/install-tools.sh', import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A project with only the script, an empty cache, and a `go` that writes the binary `go install` would. */
function scratch(): { root: string; cache: string; path: string; goLog: string } {
  const root = mkdtempSync(join(tmpdir(), 'hx-tools-'));
  dirs.push(root);
  mkdirSync(join(root, 'scripts'));
  copyFileSync(script, join(root, 'scripts/install-tools.sh'));
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
    expect(run1.stderr).toContain("unknown tool 'mysql'; the tools are: temporal vcsim govc toxiproxy minio");
  });
});
