import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, launch, waitUntilReady } from './process.js';

const logDir = mkdtempSync(join(tmpdir(), 'hypersdk-proc-'));

describe('launch / stop', () => {
  it('stops a running process and reports it exited', async () => {
    const proc = launch('sleeper', 'sleep', { args: ['30'], logFile: join(logDir, 'sleep.log') });
    expect(proc.exited).toBe(false);
    await proc.stop(1_000);
    expect(proc.exited).toBe(true);
    expect(() => process.kill(proc.pid, 0)).toThrow();
  });

  it('fails readiness with the log tail when the process dies first', async () => {
    const proc = launch('crasher', 'sh', { args: ['-c', 'echo boom-from-server; exit 3'], logFile: join(logDir, 'c.log') });
    await expect(waitUntilReady(proc, () => Promise.resolve(undefined), 5_000)).rejects.toThrow(
      /crasher exited before it was ready[\s\S]*boom-from-server/,
    );
  });

  it('fails readiness after the timeout when the probe never succeeds', async () => {
    const proc = launch('idler', 'sleep', { args: ['30'], logFile: join(logDir, 'i.log') });
    await expect(
      waitUntilReady(proc, () => Promise.reject(new Error('connection refused')), 300),
    ).rejects.toThrow(/idler was not ready after 300 ms \(last probe error: connection refused\)/);
    expect(proc.exited).toBe(true);
  });
});

describe('freePort', () => {
  it('returns a port that can be bound on loopback', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
