// How the export tests lose an export session while a disk is being streamed:
// vSphere's lease is aborted behind the worker's back and its stream cut.
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay to vcsim that, once `limit` bytes have come back, holds the rest,
 * runs `trip` (abort the lease, and whatever else the test needs) and then cuts
 * the connection: a lease lost mid-stream, the way an administrator or a vCenter
 * restart does it.
 */
export async function trippingRelay(
  target: string,
  limit: number,
  trip: () => Promise<void>,
): Promise<{ server: Server; address: string; relayed: () => number }> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.slice(target.lastIndexOf(':') + 1)),
  ];
  let relayed = 0;
  let tripped = false;
  const server = createServer((client: Socket) => {
    const upstream = connect(port, host);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    // Only one connection is cut; later ones (a reopened lease's) pass through.
    if (tripped) {
      upstream.pipe(client);
      return;
    }
    upstream.on('data', (chunk: Buffer) => {
      if (tripped) return;
      relayed += chunk.length;
      if (relayed < limit) {
        client.write(chunk);
        return;
      }
      tripped = true;
      upstream.pause();
      void trip().finally(() => {
        client.destroy();
        upstream.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address() as { port: number };
  return { server, address: `127.0.0.1:${addr.port}`, relayed: () => relayed };
}
