// connectTemporal in-process, both SDK connections (the gateway's Connection and
// the worker's NativeConnection): through the mTLS terminator with the client
// certificate, refused without it or with a stranger's, each with a message that
// names the setting to check; the API key on the wire as `authorization: Bearer`;
// the embedded dev server and its UI on loopback only.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, readFileSync } from 'node:fs';
import { createSecureServer, type IncomingHttpHeaders } from 'node:http2';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { startTemporalDevServer } from '../../src/devservices/temporal.js';
import { EXPORT_WORKFLOW_TYPE, PROGRESS_QUERY, type ExportProgress } from '../../src/core/export-contract.js';
import {
  connectTemporal,
  TemporalConnectionError,
  type TemporalConnectionSettings,
} from '../../src/temporal/connection.js';
import { createExportWorker } from '../../src/worker/create-worker.js';
import { testConfig } from '../harness/export-env.js';
import { pem } from '../harness/certs.js';
import { useTlsTerminator } from '../harness/tls-terminator.js';

const services = inject('services');
const mtls = useTlsTerminator(services);

const client = (tls: TemporalConnectionSettings['tls'], extra: Partial<TemporalConnectionSettings> = {}) =>
  connectTemporal({ address: mtls.terminator.address, tls, ...extra }, (o) =>
    Connection.connect({ ...o, connectTimeout: 3_000 }),
  );
const native = (tls: TemporalConnectionSettings['tls']) =>
  connectTemporal({ address: mtls.terminator.address, tls }, (o) => NativeConnection.connect(o));

async function failure(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TemporalConnectionError);
  return (err as Error).message;
}

describe('connectTemporal through the mTLS mtls.terminator', () => {
  it('with the client certificate, a worker runs a workflow that a client started and queried', async () => {
    const config = testConfig(services, { temporalAddress: mtls.terminator.address });
    config.temporal.tls = {
      caCert: mtls.pki.caCert,
      clientCert: mtls.pki.clientCert,
      clientKey: mtls.pki.clientKey,
    };
    const before = mtls.terminator.authorized;
    const worker = await createExportWorker({ config });
    const running = worker.run();
    const connection = await client(config.temporal.tls);
    try {
      const c = new Client({ connection, namespace: config.temporal.namespace });
      // A VM that does not exist: the workflow runs (describe fails for good) and its progress query answers.
      const handle = await c.workflow.start(EXPORT_WORKFLOW_TYPE, {
        taskQueue: config.temporal.taskQueue,
        workflowId: `tls-${randomBytes(4).toString('hex')}`,
        args: [
          {
            jobId: 'x',
            jobName: 'x',
            vmPath: '/DC0/vm/no-such-vm',
            format: 'ovf',
            method: 'auto',
            source: { provider: 'vsphere', profile: 'default' },
            sink: { kind: 'local', directory: join(config.output.allowedRoots[0]!, 'tls-none') },
            outputPath: join(config.output.allowedRoots[0]!, 'tls-none'),
            submittedAt: new Date().toISOString(),
            options: {
              parallelDownloads: 1,
              removeCdrom: false,
              snapshot: false,
              powerOff: false,
              shutdownTimeoutSeconds: 60,
            },
          },
        ],
      });
      await expect(handle.result()).rejects.toThrow();
      const progress = await handle.query<ExportProgress>(PROGRESS_QUERY);
      expect(progress.phase).toBeDefined();
      expect(mtls.terminator.authorized - before).toBeGreaterThanOrEqual(2);
    } finally {
      await connection.close();
      worker.shutdown();
      await running;
    }
  });

  it('without a client certificate: both connections fail naming temporal.tls.client_cert', async () => {
    const tls = { caCert: mtls.pki.caCert };
    for (const message of [await failure(client(tls)), await failure(native(tls))]) {
      expect(message).toMatch(
        /^temporal: TLS handshake with 127\.0\.0\.1:\d+ failed: tlsv13 alert certificate required \(the server asks for a client certificate and none was sent: check temporal\.tls\.client_cert/,
      );
    }
    const config = testConfig(services, { temporalAddress: mtls.terminator.address });
    config.temporal.tls = tls;
    expect(await failure(createExportWorker({ config }))).toMatch(/certificate required/);
  });

  it("with the stranger's certificate: both connections fail, the server refused it", async () => {
    const tls = {
      caCert: mtls.pki.caCert,
      clientCert: mtls.pki.strangerCert,
      clientKey: mtls.pki.strangerKey,
    };
    for (const message of [await failure(client(tls)), await failure(native(tls))]) {
      expect(message).toMatch(
        /^temporal: TLS handshake with 127\.0\.0\.1:\d+ failed: .+ \(the server refused the client certificate: check temporal\.tls\.client_cert/,
      );
    }
  });

  it('TLS to the plain dev server, and plain gRPC to the mtls.terminator, each say what the server speaks', async () => {
    const tls = { caCert: mtls.pki.caCert, clientCert: mtls.pki.clientCert, clientKey: mtls.pki.clientKey };
    const toPlain = await failure(
      connectTemporal({ address: services.temporal.address, tls }, (o) => NativeConnection.connect(o)),
    );
    expect(toPlain).toMatch(/failed: wrong version number \(the server does not seem to speak TLS/);
    const plain = await failure(client(undefined));
    expect(plain).toMatch(/the server speaks TLS and temporal\.tls is not set/);
    // Nothing listening: the socket's reason, not grpc-js's "Failed to connect before the deadline".
    const closed = await failure(
      connectTemporal({ address: '127.0.0.1:1' }, (o) => Connection.connect({ ...o, connectTimeout: 1_000 })),
    );
    expect(closed).toBe('temporal: cannot connect to 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1');
  });
});

describe('temporal.api_key', () => {
  it('is sent as `authorization: Bearer <key>` by both connections, and never shows in the error', async () => {
    // A loopback gRPC-over-h2 server that records the headers and refuses every call.
    const seen: IncomingHttpHeaders[] = [];
    const server = createSecureServer({
      key: pem(mtls.pki.serverKey),
      cert: pem(mtls.pki.serverCert),
      allowHTTP1: false,
    });
    server.on('stream', (stream, headers) => {
      seen.push(headers);
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '16',
          'grpc-message': 'bad key',
        },
        { endStream: true },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const apiKey = `k-${randomBytes(8).toString('hex')}`;
    try {
      const settings = { address, apiKey, tls: { caCert: mtls.pki.caCert } };
      const errors = [
        await failure(connectTemporal(settings, (o) => Connection.connect({ ...o, connectTimeout: 3_000 }))),
        await failure(connectTemporal(settings, (o) => NativeConnection.connect(o))),
      ];
      expect(seen.length).toBeGreaterThanOrEqual(2);
      for (const headers of seen) expect(headers.authorization).toBe(`Bearer ${apiKey}`);
      for (const message of errors) {
        expect(message).toMatch(
          /^temporal: cannot connect to 127\.0\.0\.1:\d+: .*\(check temporal\.api_key \(HYPERSDK_TEMPORAL_API_KEY\)\)$/,
        );
        expect(message).not.toContain(apiKey);
      }
    } finally {
      server.close();
    }
  });
});

/** host:port of every TCP socket `pid` listens on (Linux /proc). */
function listeningAddresses(pid: number): string[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`)
      .map((fd) => {
        try {
          return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        } catch {
          return undefined;
        }
      })
      .filter(Boolean),
  );
  const out: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9])) continue; // 0A = LISTEN
      const [hex, port] = f[1]!.split(':');
      const ip =
        table === 'tcp'
          ? hex!
              .match(/../g)!
              .reverse()
              .map((b) => parseInt(b, 16))
              .join('.')
          : `[${hex}]`;
      out.push(`${ip}:${parseInt(port!, 16)}`);
    }
  }
  return out;
}

describe.runIf(process.platform === 'linux')('the embedded dev server', () => {
  it('listens on 127.0.0.1 only: gRPC, HTTP, metrics and the UI', async () => {
    const server = await startTemporalDevServer({
      logDir: mkdtempSync(join(services.workDir, 'loopback-')),
      ui: true,
    });
    try {
      const addresses = listeningAddresses(server.process.pid);
      expect(addresses).toContain(server.address);
      expect(addresses).toContain(new URL(server.uiUrl!).host);
      for (const a of addresses) expect(a).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await server.stop();
    }
  });
});
