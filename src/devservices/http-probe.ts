import { Agent, request } from 'undici';

// Readiness probes talk to self-signed loopback servers (vcsim): certificate
// checks are pointless there, and this agent is never used for real traffic.
const probeAgent = new Agent({ connect: { rejectUnauthorized: false }, headersTimeout: 2_000, bodyTimeout: 2_000 });

/** Resolves with the status code of a GET, or throws if nothing answers. */
export async function probeStatus(url: string): Promise<number> {
  const res = await request(url, { dispatcher: probeAgent, method: 'GET' });
  await res.body.dump();
  return res.statusCode;
}
