// Login, TLS policy, lookups and typed failures against the harness vcsim.
import { ApplicationFailure } from '@temporalio/common';
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../../src/core/errors.js';
import { connectVsphere, type VsphereProvider } from '../../src/providers/vsphere/index.js';
import { connect, runGovc, services } from './helpers.js';

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected a failure');
}

function peerCertificate(host: string): Promise<PeerCertificate> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.once('error', reject);
  });
}

describe('vSphere session and errors', () => {
  let provider: VsphereProvider;
  beforeAll(async () => {
    provider = await connect();
  });
  afterAll(() => provider?.logout());

  it('fails a wrong password with AuthenticationFailed, fast, non-retryable, without echoing it', async () => {
    const { vcsim } = services();
    const password = 'wrong-Secret-42';
    const started = Date.now();
    const err = await failureOf(
      connectVsphere({ url: vcsim.sdkUrl, username: vcsim.username, password, insecure: true }),
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err.type).toBe(ErrorType.AuthenticationFailed);
    expect(err.nonRetryable).toBe(true);
    expect(err.message).not.toContain(password);
    expect(JSON.stringify(err.details)).not.toContain(password);
  });

  it('rejects the self-signed certificate by default, naming both thumbprints and how to pin', async () => {
    const { vcsim } = services();
    const cert = await peerCertificate(vcsim.host);
    const err = await failureOf(
      connectVsphere({ url: vcsim.sdkUrl, username: vcsim.username, password: vcsim.password }),
    );
    expect(err.type).toBe(ErrorType.TlsError);
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(cert.fingerprint256);
    expect(err.message).toContain(cert.fingerprint);
    expect(err.message).toMatch(/thumbprint/);
    expect(err.message).toMatch(/insecure/);
  });

  it('accepts the same certificate when its SHA-256 or SHA-1 thumbprint is pinned, and refuses another pin', async () => {
    const { vcsim } = services();
    const cert = await peerCertificate(vcsim.host);
    for (const thumbprint of [cert.fingerprint256, cert.fingerprint.replace(/:/g, '').toLowerCase()]) {
      const pinned = await connectVsphere({
        url: vcsim.sdkUrl,
        username: vcsim.username,
        password: vcsim.password,
        thumbprint,
      });
      expect((await pinned.listVms()).length).toBeGreaterThan(0);
      await pinned.logout();
    }
    const wrongPin = 'AA:'.repeat(31) + 'AA';
    const err = await failureOf(
      connectVsphere({
        url: vcsim.sdkUrl,
        username: vcsim.username,
        password: vcsim.password,
        thumbprint: wrongPin,
      }),
    );
    expect(err.type).toBe(ErrorType.TlsError);
    expect(err.message).toContain(cert.fingerprint256);
  });

  it('finds a VM by inventory path, name, moref, BIOS UUID and instance UUID', async () => {
    const byPath = await provider.describeVm('/DC0/vm/DC0_H0_VM0');
    expect(byPath.name).toBe('DC0_H0_VM0');
    expect(byPath.id).toMatch(/^vm-\d+$/);
    for (const ref of ['DC0_H0_VM0', byPath.id, byPath.biosUuid, byPath.instanceUuid]) {
      expect((await provider.describeVm(ref)).id, ref).toBe(byPath.id);
    }
    const govcUuid = (await runGovc(['object.collect', '-s', '/DC0/vm/DC0_H0_VM0', 'config.uuid'])).trim();
    expect(byPath.biosUuid).toBe(govcUuid);
  });

  it('fails an unknown VM with VmNotFound naming close matches', async () => {
    const err = await failureOf(provider.describeVm('DC0_H0_VM9'));
    expect(err.type).toBe(ErrorType.VmNotFound);
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('DC0_H0_VM0');
    const byPath = await failureOf(provider.describeVm('/DC0/vm/no-such-vm'));
    expect(byPath.type).toBe(ErrorType.VmNotFound);
  });

  it('logs in again transparently when the session is gone', async () => {
    const own = await connect();
    const cookieBefore = own.downloadHeaders().cookie;
    // Kill the session server-side but keep sending its cookie.
    await own.session.client.call('Logout', { _this: own.session.content.sessionManager });
    own.session.client.cookie = cookieBefore;
    const vms = await own.listVms();
    expect(vms.length).toBeGreaterThan(0);
    expect(own.downloadHeaders().cookie).toBeDefined();
    expect(own.downloadHeaders().cookie).not.toBe(cookieBefore);
    await own.logout();
  });

  it('turns a call that outlives its deadline into a Timeout failure', async () => {
    // A loopback TLS-less server that accepts connections and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      const err = await failureOf(
        connectVsphere({ url: `http://127.0.0.1:${port}/sdk`, username: 'u', password: 'p', timeoutMs: 300 }),
      );
      expect(err.type).toBe(ErrorType.Timeout);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      silent.close();
    }
  });
});
