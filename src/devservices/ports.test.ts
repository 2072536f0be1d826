import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ephemeralRangeStart, freePort, isPortClash, retryOnPortClash } from './ports.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

function listen(port: number): Promise<Server> {
  const server = createServer();
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('freePort', () => {
  it('returns a port below the ephemeral range that can be bound on loopback', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThanOrEqual(20_000);
    expect(port).toBeLessThan(ephemeralRangeStart());
    await expect(listen(port)).resolves.toBeDefined();
  });

  it('never hands out the same port twice in one process, nor one that is listening', async () => {
    const ports = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const port = await freePort();
      expect(ports.has(port)).toBe(false);
      ports.add(port);
      await listen(port); // held until the test ends: later choices must avoid it
    }
  });

  it('reads the start of the ephemeral range from /proc, with a default where it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ports-'));
    writeFileSync(join(dir, 'range'), '40000\t60999\n');
    expect(ephemeralRangeStart(join(dir, 'range'))).toBe(40_000);
    expect(ephemeralRangeStart(join(dir, 'missing'))).toBe(32_768);
    writeFileSync(join(dir, 'bad'), 'nonsense\n');
    expect(ephemeralRangeStart(join(dir, 'bad'))).toBe(32_768);
  });
});

describe('retryOnPortClash', () => {
  it('starts again after a lost port, and at most three times in all', async () => {
    let calls = 0;
    const clash = new Error('minio exited before it was ready. Log tail: listen tcp 127.0.0.1:24000: bind: address already in use');
    await expect(
      retryOnPortClash(() => {
        calls++;
        return calls < 3 ? Promise.reject(clash) : Promise.resolve('up');
      }),
    ).resolves.toBe('up');
    expect(calls).toBe(3);

    calls = 0;
    await expect(
      retryOnPortClash(() => {
        calls++;
        return Promise.reject(clash);
      }),
    ).rejects.toBe(clash);
    expect(calls).toBe(3);
  });

  it('does not retry any other failure', async () => {
    let calls = 0;
    const other = new Error('vcsim was not ready after 60000 ms');
    await expect(
      retryOnPortClash(() => {
        calls++;
        return Promise.reject(other);
      }),
    ).rejects.toBe(other);
    expect(calls).toBe(1);
    expect(isPortClash(new Error('Exit due to unhandled error: listen EADDRINUSE: address already in use 127.0.0.1:37101'))).toBe(true);
    expect(isPortClash('EADDRINUSE')).toBe(false);
  });
});
