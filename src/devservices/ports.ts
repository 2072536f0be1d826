// Ports for the loopback servers the tests, benchmarks and demo start.
//
// Asking the kernel for port 0 hands out a port from the ephemeral range, the
// same range it draws from for every other port-0 listener and every outgoing
// connection. The Temporal dev server picks its internal services' ports that
// way, so a port we were given and released could be taken by one of them
// before our server bound it (a CI run lost Azurite to exactly that). Ports are
// therefore drawn at random from below the ephemeral range, where nothing is
// assigned automatically, and checked by binding them.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Lowest port handed out: above the registered services most machines run. */
const LOWEST = 20_000;
/** Linux's default ephemeral range starts here; used where /proc does not say. */
const DEFAULT_EPHEMERAL_LOW = 32_768;
const ATTEMPTS = 50;

/** Ports this process handed out, never handed out twice. */
const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range. */
export function ephemeralRangeStart(procFile = '/proc/sys/net/ipv4/ip_local_port_range'): number {
  try {
    const low = Number.parseInt(readFileSync(procFile, 'utf8').trim().split(/\s+/)[0] ?? '', 10);
    return Number.isInteger(low) && low > 0 ? low : DEFAULT_EPHEMERAL_LOW;
  } catch {
    return DEFAULT_EPHEMERAL_LOW;
  }
}

/**
 * A TCP port free on `host` a moment ago, outside the ephemeral range when the
 * machine leaves room below it (the kernel's port 0 otherwise).
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = ephemeralRangeStart() - 1;
  if (high - LOWEST >= 1_000) {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const port = LOWEST + Math.floor(Math.random() * (high - LOWEST + 1));
      if (handedOut.has(port)) continue;
      if ((await bindAndRelease(host, port)) !== undefined) {
        handedOut.add(port);
        return port;
      }
    }
  }
  const port = await bindAndRelease(host, 0);
  if (port === undefined) throw new Error(`no free TCP port on ${host}`);
  return port;
}

/** The port bound on `host` (`port`, or the kernel's choice for 0), then released; undefined when it is taken. */
function bindAndRelease(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      server.close(() => resolve(address && typeof address === 'object' ? address.port : undefined));
    });
  });
}

/** True when a server failed to start because its port was taken after we chose it. */
export function isPortClash(err: unknown): boolean {
  return err instanceof Error && /EADDRINUSE|address already in use/i.test(err.message);
}

/**
 * Runs `start` (which picks its own ports) again when the server lost a port
 * between the choice and its bind, at most `attempts` times in all.
 */
export async function retryOnPortClash<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= attempts || !isPortClash(err)) throw err;
    }
  }
}
