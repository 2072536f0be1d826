// The SOAP client reads responses whole (they are parsed as one document): a
// server answering without end must not make it buffer without end.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_SOAP_RESPONSE_BYTES, SoapClient } from './soap-client.js';

const MiB = 1024 * 1024;
const HEAD =
  '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><RetrieveServiceContentResponse xmlns="urn:vim25"><returnval>';
/** Never more than this from the test server, whatever the client does (old code read it all). */
const SERVER_LIMIT = 256 * MiB;

let server: Server | undefined;
let client: SoapClient | undefined;
afterEach(async () => {
  await client?.close();
  server?.closeAllConnections();
  server?.close();
  server = client = undefined;
});

/** A loopback server whose answer is `declared` (a Content-Length, or chunked when undefined) and filler until stopped. */
async function hugeServer(
  declared?: number,
): Promise<{ url: string; sent: () => number; closed: Promise<void> }> {
  let sent = 0;
  let onClose: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (onClose = resolve));
  const filler = Buffer.alloc(MiB, 'a');
  server = createServer((req, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'text/xml; charset=utf-8',
        ...(declared !== undefined ? { 'content-length': String(declared) } : {}),
      });
      res.on('close', onClose);
      res.write(HEAD);
      const pump = () => {
        while (!res.destroyed && sent < SERVER_LIMIT) {
          sent += filler.length;
          if (!res.write(filler)) return void res.once('drain', () => setImmediate(pump));
        }
        if (!res.destroyed) res.end();
      };
      pump();
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/sdk`, sent: () => sent, closed };
}

describe('SOAP response cap', () => {
  it('fails a response that never ends once it passes the cap, naming the cap, and drops the connection', async () => {
    const srv = await hugeServer();
    client = new SoapClient({ url: srv.url, maxResponseBytes: 4 * MiB, timeoutMs: 20_000 });
    const before = process.memoryUsage().arrayBuffers;
    const err = await client.call('RetrieveServiceContent', {}).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'SoapFault', nonRetryable: true });
    expect((err as Error).message).toMatch(
      /RetrieveServiceContent: the response from 127\.0\.0\.1:\d+ is larger than the 4194304-byte SOAP response cap/,
    );
    expect((err as Error).message).toContain('vsphere.max_response_mib');
    await srv.closed;
    // The server could only send what the cap and the socket buffers took.
    expect(srv.sent()).toBeLessThan(4 * MiB + 32 * MiB);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * MiB);
  });

  it('refuses a declared Content-Length above the default 64 MiB cap before reading the body', async () => {
    const srv = await hugeServer(1024 * MiB);
    client = new SoapClient({ url: srv.url, timeoutMs: 20_000 });
    expect(client.maxResponseBytes).toBe(DEFAULT_MAX_SOAP_RESPONSE_BYTES);
    const err = await client.call('RetrieveServiceContent', {}).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /larger than the 67108864-byte SOAP response cap \(Content-Length 1073741824\)/,
    );
    await srv.closed;
    expect(srv.sent()).toBeLessThan(DEFAULT_MAX_SOAP_RESPONSE_BYTES);
  });

  it('still reads a normal answer', async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () =>
        res.end(
          `${HEAD}<about><name>ok</name></about></returnval></RetrieveServiceContentResponse></soapenv:Body></soapenv:Envelope>`,
        ),
      );
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new SoapClient({ url: `http://127.0.0.1:${port}/sdk`, maxResponseBytes: 4 * MiB });
    expect(await client.call('RetrieveServiceContent', {})).toMatchObject({ about: { name: 'ok' } });
  });
});
