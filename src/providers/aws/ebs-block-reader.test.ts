// The direct block reader against a loopback server that answers as the EBS API
// does: it must go where the SDK client went, sign with SigV4 for "ebs", retry
// throttling, surface errors as the SDK would name them, and reuse the buffers
// it is given back.
import { EBSClient, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EbsBlockReader, watchEndpoint } from './ebs-block-reader.js';

const BLOCK = randomBytes(4096);
let server: Server;
let endpoint: string;
let seen: IncomingMessage[] = [];
/** Answers to give GetSnapshotBlock, in order; then the block. */
let script: { status: number; type?: string; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    if (req.url?.includes('/blocks?') || req.url?.endsWith('/blocks')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ Blocks: [], VolumeSize: 1, BlockSize: 524288 }));
      return;
    }
    const next = script.shift();
    if (next) {
      res.writeHead(next.status, next.type ? { 'x-amzn-errortype': next.type } : {});
      res.end(next.body);
      return;
    }
    res.writeHead(200, {
      'x-amz-data-length': String(BLOCK.length),
      'x-amz-checksum': createHash('sha256').update(BLOCK).digest('base64'),
      'x-amz-checksum-algorithm': 'SHA256',
    });
    res.end(BLOCK);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function readyReader(): Promise<{ ebs: EBSClient; reader: EbsBlockReader }> {
  const ebs = new EBSClient({ endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' }, maxAttempts: 1 });
  watchEndpoint(ebs);
  await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0123456789abcdef0' }));
  return { ebs, reader: new EbsBlockReader(ebs, 4) };
}

describe('EbsBlockReader', () => {
  it('reads a block from the endpoint the SDK resolved, signed with SigV4 for ebs in the client\'s region', async () => {
    const { ebs, reader } = await readyReader();
    seen = [];
    const answer = await reader.getBlock('snap-0123456789abcdef0', 7, 'token/with+chars=', new AbortController().signal);
    expect(answer.data.equals(BLOCK)).toBe(true);
    expect(answer.checksumAlgorithm).toBe('SHA256');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe(`/snapshots/snap-0123456789abcdef0/blocks/7?blockToken=${encodeURIComponent('token/with+chars=')}`);
    expect(seen[0]!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-3\/ebs\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/);
    await reader.close();
    ebs.destroy();
  });

  it('retries throttling and 5xx answers, then fails with the name and status the SDK would give', async () => {
    const { ebs, reader } = await readyReader();
    script = [{ status: 503, body: '' }, { status: 400, type: 'ThrottlingException:http://internal', body: '{"message":"slow down"}' }];
    seen = [];
    const answer = await reader.getBlock('snap-0123456789abcdef0', 1, 't', new AbortController().signal);
    expect(answer.data.equals(BLOCK)).toBe(true);
    expect(seen).toHaveLength(3);

    script = [{ status: 400, type: 'ValidationException', body: '{"message":"The block token is expired.","Reason":"INVALID_BLOCK_TOKEN"}' }];
    const expired = await reader.getBlock('snap-0123456789abcdef0', 1, 't', new AbortController().signal).catch((e: unknown) => e as Error & { Reason?: string; $metadata?: { httpStatusCode?: number } });
    expect(expired).toMatchObject({ name: 'ValidationException', Reason: 'INVALID_BLOCK_TOKEN', message: 'The block token is expired.', $metadata: { httpStatusCode: 400 } });

    script = [{ status: 403, body: '<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>' }];
    const denied = await reader.getBlock('snap-0123456789abcdef0', 1, 't', new AbortController().signal).catch((e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } });
    expect(denied).toMatchObject({ name: 'Http403', $metadata: { httpStatusCode: 403 } });
    await reader.close();
    ebs.destroy();
  });

  it('reads into a buffer given back, and ignores buffers it did not make', async () => {
    const { ebs, reader } = await readyReader();
    const first = await reader.getBlock('snap-0123456789abcdef0', 2, 't', new AbortController().signal);
    reader.recycle(Buffer.alloc(BLOCK.length)); // not the reader's: ignored
    reader.recycle(first.data);
    const second = await reader.getBlock('snap-0123456789abcdef0', 3, 't', new AbortController().signal);
    expect(second.data).toBe(first.data);
    expect(second.data.equals(BLOCK)).toBe(true);
    await reader.close();
    ebs.destroy();
  });
});
