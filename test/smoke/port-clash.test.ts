// A server that loses its port between our choice and its bind is started again
// on another: here the port is taken on purpose, and a real toxiproxy-server
// (Go, as vcsim, MinIO and Temporal are), which logs the failed bind and lives
// on, must be seen to have lost it at once (not after the readiness deadline),
// then come up on the next port.
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeStatus } from '../../src/devservices/http-probe.js';
import { freePort, isPortClash, retryOnPortClash } from '../../src/devservices/ports.js';
import { launch, waitUntilReady } from '../../src/devservices/process.js';
import { toolPath } from '../../src/devservices/tools.js';

describe('a server whose port was taken', () => {
  it('is started again on another port', async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'port-clash-'));
    // Holds the port and answers nothing, as a foreign gRPC server would to HTTP/1.1.
    const squatter = createServer((socket) => socket.destroy());
    const taken = await freePort();
    await new Promise<void>((resolve) => squatter.listen(taken, '127.0.0.1', resolve));
    const failures: unknown[] = [];
    const ports: number[] = [];
    const started = Date.now();
    try {
      const server = await retryOnPortClash(async () => {
        const port = ports.length === 0 ? taken : await freePort();
        ports.push(port);
        const proc = launch('toxiproxy', toolPath('toxiproxy-server'), {
          args: ['-host', '127.0.0.1', '-port', String(port)],
          logFile: join(workDir, `toxiproxy-${port}.log`),
        });
        try {
          await waitUntilReady(proc, async () =>
            (await probeStatus(`http://127.0.0.1:${port}/version`)) === 200 ? true : undefined,
          );
        } catch (err) {
          failures.push(err);
          throw err;
        }
        return { port, proc };
      });
      try {
        expect(Date.now() - started).toBeLessThan(20_000);
        expect(ports).toHaveLength(2);
        expect(server.port).toBe(ports[1]);
        expect(server.port).not.toBe(taken);
        expect(failures).toHaveLength(1);
        expect(isPortClash(failures[0])).toBe(true);
        expect(String(failures[0])).toMatch(/toxiproxy lost its port to another process/);
        expect(await probeStatus(`http://127.0.0.1:${server.port}/version`)).toBe(200);
      } finally {
        await server.proc.stop();
      }
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });
});
