// An HTTP relay in front of moto that counts the EBS blocks read through it
// (GET /snapshots/<id>/blocks/<index>): how a test sees which blocks an export
// fetched, without asking the code under test. Everything else passes through,
// headers untouched (Host included: it is part of what a SigV4 signature signs).
// It can also hold each block read for a while: a transfer slow enough to kill.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BlockCounter {
  /** http://127.0.0.1:<port>: point AWS_ENDPOINT_URL_EBS here. */
  endpoint: string;
  /** Every block read so far, per snapshot, in arrival order (a block read twice appears twice). */
  reads(snapshotId: string): number[];
  reset(): void;
  close(): Promise<void>;
}

export interface BlockCounterOptions {
  /** Holds every block read this long before relaying it. */
  blockDelayMs?: number;
}

const BLOCK_PATH = /^\/snapshots\/([^/]+)\/blocks\/(\d+)(?:\?|$)/;

export async function startBlockCounter(target: string, options: BlockCounterOptions = {}): Promise<BlockCounter> {
  const upstream = new URL(target);
  const counted = new Map<string, number[]>();
  const relay = (req: IncomingMessage, res: ServerResponse): void => {
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  };
  const server: Server = createServer((req, res) => {
    const match = req.method === 'GET' ? BLOCK_PATH.exec(req.url ?? '') : null;
    if (!match) return relay(req, res);
    const list = counted.get(match[1]!) ?? [];
    list.push(Number(match[2]));
    counted.set(match[1]!, list);
    if (options.blockDelayMs) setTimeout(() => relay(req, res), options.blockDelayMs);
    else relay(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    reads: (id) => [...(counted.get(id) ?? [])],
    reset: () => counted.clear(),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
