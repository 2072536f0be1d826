// hyperctl's command line, run in-process. Connections go to a closed loopback
// port: the error names the URL hyperctl chose, which is what is checked here
// (test/cli/hyperctl.test.ts runs it against a real daemon).
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../api/version.js';
import { runHyperctl } from './hyperctl.js';
import type { CliIo } from './io.js';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTty: false, env };
  const code = await runHyperctl(args, io);
  return { code, out, err };
}

describe('hyperctl command line', () => {
  it('prints its version with -version or --version, as the Go binary does', async () => {
    for (const flag of ['-version', '--version', '-version=true']) {
      const r = await run([flag]);
      expect(r).toEqual({ code: 0, out: `hyperctl version ${VERSION}\n`, err: '' });
    }
  });

  it('takes -daemon before the command, and a -daemon after it still wins', async () => {
    const [a, b] = [await closedPort(), await closedPort()];
    const global = await run(['-daemon', `http://127.0.0.1:${a}`, 'status']);
    expect(global.code).toBe(3);
    expect(global.err).toContain(`http://127.0.0.1:${a}`);
    const both = await run(['--daemon', `http://127.0.0.1:${a}`, 'status', '-daemon', `http://127.0.0.1:${b}`]);
    expect(both.err).toContain(`http://127.0.0.1:${b}`);
  });

  it('reads Go flags of nested commands, and hands them the program-level -daemon (vms list)', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const nested = await run(['-daemon', url, 'vms', 'list', '-json']);
    expect(nested.code, nested.err).toBe(3);
    expect(nested.err).toContain(url);
  });

  it("finds the daemon through hyper2kvm's HYPERVISORD_URL and through DAEMON_ADDR", async () => {
    const port = await closedPort();
    expect((await run(['status'], { HYPERVISORD_URL: `http://127.0.0.1:${port}` })).err).toContain(`http://127.0.0.1:${port}`);
    expect((await run(['status'], { DAEMON_ADDR: `127.0.0.1:${port}` })).err).toContain(`http://127.0.0.1:${port}`);
  });

  it('accepts -all=true and --json=false, and names a switch given another value (usage, exit 2)', async () => {
    const port = await closedPort();
    const ok = await run(['query', '-all=true', '--json=false', '-daemon', `http://127.0.0.1:${port}`]);
    expect(ok.code, ok.err).toBe(3);
    const bad = await run(['query', '-all=yes']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('-all is a switch');
    const off = await run(['query', '-all=false']);
    expect(off.code).toBe(2);
    expect(off.err).toContain('give -id <id>, -all or -status');
  });

  it('watch takes the job id as an argument or as -id, and asks for it when missing', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    expect((await run(['watch', 'job-1', '-daemon', url])).code).toBe(3);
    expect((await run(['watch', '-id', 'job-1', '-daemon', url])).code).toBe(3);
    const missing = await run(['watch']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('hyperctl watch <id>');
  });

  it('logs takes [-f] [-tail N] <id>', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    expect((await run(['logs', '-f', '-tail', '5', 'job-1', '-daemon', url])).code).toBe(3);
    expect((await run(['logs', '-f=false', 'job-1', '-daemon', url])).code).toBe(3);
    expect((await run(['logs'])).code).toBe(2);
    const tail = await run(['logs', '-tail', 'many', 'job-1']);
    expect(tail.code).toBe(2);
    expect(tail.err).toContain('-tail takes a whole number');
  });

  it('refuses a flag before the command that is not its own', async () => {
    const r = await run(['-json', 'status']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('flags of a command go after its name');
  });
});
