// An HTTP relay in front of moto that counts the EBS blocks read through it
// (GET /snapshots/<id>/blocks/<index>): how a test sees which blocks an export
// fetched, without asking the code under test. Everything else passes through.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BlockCounter {
  /** http://127.0.0.1:<port>: point AWS_ENDPOINT_URL_EBS here. */
  endpoint: string;
  /** Every block read so far, per snapshot, in arrival order (a block read twice appears twice). */
  reads(snapshotId: string): number[];
  reset(): void;
  close(): Promise<void>;
}

const BLOCK_PATH = /^\/snapshots\/([^/]+)\/blocks\/(\d+)(?:\?|$)/;

export async function startBlockCounter(target: string): Promise<BlockCounter> {
  const upstream = new URL(target);
  const counted = new Map<string, number[]>();
  const server: Server = createServer((req, res) => {
    const match = req.method === 'GET' ? BLOCK_PATH.exec(req.url ?? '') : null;
    if (match) {
      const list = counted.get(match[1]!) ?? [];
      list.push(Number(match[2]));
      counted.set(match[1]!, list);
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    reads: (id) => [...(counted.get(id) ?? [])],
    reset: () => counted.clear(),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
