// What the download client refuses, whatever a server sends: framing it cannot
// trust (a Content-Length that is not one byte count) and input that would grow
// its memory without bound. Raw loopback servers write the exact bytes.
import { afterEach, describe, expect, it } from 'vitest';
import { BAD_RESPONSE } from '../../src/transfer/http-get.js';
import { closeRawServers, get, rawServer } from './helpers/raw-server.js';

afterEach(closeRawServers);

describe('httpGet Content-Length', () => {
  it('a Content-Length that is not one byte count → BAD_RESPONSE, never an empty body that looks complete', async () => {
    for (const fields of ['Content-Length: abc', 'Content-Length: 5, 5', 'Content-Length: -5', 'Content-Length: 5\r\nContent-Length: 6']) {
      const url = await rawServer((s) => s.end(`HTTP/1.1 200 OK\r\n${fields}\r\n\r\nhello`));
      await expect(get(url).then((res) => res.body.read({ data: () => true }))).rejects.toMatchObject({ code: BAD_RESPONSE });
    }
  });

  it('repeated equal Content-Length fields count once', async () => {
    const url = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'));
    const res = await get(url);
    expect(res.headers['content-length']).toBe('5');
    const parts: Buffer[] = [];
    await res.body.read({ data: (v) => (parts.push(Buffer.from(v)), true) });
    expect(Buffer.concat(parts).toString()).toBe('hello');
  });
});
