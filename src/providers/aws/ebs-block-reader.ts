// GetSnapshotBlock without the SDK's per-request machinery: the hot call of an EBS
// export, made thousands of times a GiB (one per 512 KiB block). Each request is
// signed with SigV4 by @smithy/signature-v4 (the SDK's own signer, with the SDK
// client's credentials, region and endpoint) and dispatched on one undici pool
// through core/pooled-get: each chunk is copied as it arrives into one buffer of
// the announced length (no stream, no chunk list), reused once the transfer has
// written it (recycle). Measured on
// the project's 2-core machine against moto, the SDK command cost about twice the
// CPU per block (deserialisation middleware, a stream collected and then
// concatenated, a second copy of every block).
//
// The endpoint is the one the SDK client itself resolved (AWS_ENDPOINT_URL_EBS, a
// configured endpoint, or the region's): taken from its first request, a
// ListSnapshotBlocks, so both always talk to the same place.
//
// Errors look like the SDK's (name, Reason, $metadata.httpStatusCode), so the
// callers' mapping (AccessDenied, expired tokens) reads them the same way.
// Throttling and 5xx answers are retried here with backoff before they surface.
import type { EBSClient } from '@aws-sdk/client-ebs';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Agent } from 'undici';
import { PooledGetter } from '../../core/pooled-get.js';

export interface BlockAnswer {
  data: Buffer;
  /** Base64 SHA-256 the service sent with the block. */
  checksum: string | undefined;
  checksumAlgorithm: string | undefined;
  /** x-amz-Data-Length. */
  dataLength: number | undefined;
}

interface Endpoint {
  protocol: string;
  hostname: string;
  port?: number;
  /** Path prefix of the endpoint ("" for AWS's own). */
  basePath: string;
}

const THROTTLE_ATTEMPTS = 5;
const THROTTLE_BASE_MS = 100;
const endpoints = new WeakMap<EBSClient, Endpoint>();

/**
 * Records, once per client, where its requests go: the EBS calls the SDK makes
 * (ListSnapshotBlocks) then tell the reader the endpoint it resolved.
 */
export function watchEndpoint(ebs: EBSClient): void {
  if (endpoints.has(ebs) || ebs.middlewareStack.identify().some((m) => m.startsWith('hypersdkEndpoint'))) return;
  ebs.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { protocol?: string; hostname?: string; port?: number; path?: string } | undefined;
      if (req?.hostname && req.path !== undefined) {
        const at = req.path.indexOf('/snapshots/');
        endpoints.set(ebs, {
          protocol: req.protocol ?? 'https:',
          hostname: req.hostname,
          ...(req.port ? { port: req.port } : {}),
          basePath: at > 0 ? req.path.slice(0, at) : '',
        });
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'hypersdkEndpoint', priority: 'low' },
  );
}

/** What the signer hands the hash: a string, a view or a whole buffer. */
type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytesOf(data: SourceData): string | Buffer {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Node's crypto behind the interface the signer expects (hash, or HMAC with a secret). */
class NodeSha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
  }
  update(data: SourceData): void {
    this.h.update(bytesOf(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
}

export class EbsBlockReader {
  private readonly agent: Agent;
  private readonly getter: PooledGetter;
  private signer: SignatureV4 | undefined;

  constructor(
    private readonly ebs: EBSClient,
    connections: number,
  ) {
    this.agent = new Agent({ connections, pipelining: 1 });
    this.getter = new PooledGetter(this.agent, connections * 2);
  }

  /** Takes back a block buffer this reader returned, once its bytes are no longer needed. */
  recycle(data: Buffer): void {
    this.getter.recycle(data);
  }

  async getBlock(snapshotId: string, index: number, token: string, signal: AbortSignal): Promise<BlockAnswer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(snapshotId, index, token, signal);
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
        const name = (err as { name?: string }).name ?? '';
        const throttled = status === 429 || status >= 500 || /Throttl|RequestLimitExceeded/.test(name);
        if (!throttled || attempt >= THROTTLE_ATTEMPTS || signal.aborted) throw err;
        // Full jitter: many readers backing off together must not come back together.
        await new Promise((r) => setTimeout(r, Math.random() * THROTTLE_BASE_MS * 2 ** attempt));
      }
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private async once(snapshotId: string, index: number, token: string, signal: AbortSignal): Promise<BlockAnswer> {
    const endpoint = endpoints.get(this.ebs);
    if (!endpoint) throw new Error('EBS block reader: the client has made no request yet, so its endpoint is unknown');
    const path = `${endpoint.basePath}/snapshots/${encodeURIComponent(snapshotId)}/blocks/${index}`;
    const host = endpoint.port ? `${endpoint.hostname}:${endpoint.port}` : endpoint.hostname;
    const signed = await (await this.signerFor()).sign({
      method: 'GET',
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      ...(endpoint.port ? { port: endpoint.port } : {}),
      path,
      query: { blockToken: token },
      headers: { host },
    });
    const origin = `${endpoint.protocol}//${host}`;
    const res = await this.getter.request({
      origin,
      path: `${path}?blockToken=${encodeURIComponent(token)}`,
      headers: signed.headers,
      signal,
      pooled: (status) => status === 200,
      lengthHeaders: ['x-amz-data-length', 'content-length'],
    });
    const header = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    if (res.statusCode !== 200) throw answerError(res.statusCode, header('x-amzn-errortype'), res.body.toString('utf8'));
    const announced = header('x-amz-data-length');
    return { data: res.body, checksum: header('x-amz-checksum'), checksumAlgorithm: header('x-amz-checksum-algorithm'), dataLength: announced === undefined ? undefined : Number(announced) };
  }

  private async signerFor(): Promise<SignatureV4> {
    if (!this.signer) {
      const config = this.ebs.config;
      this.signer = new SignatureV4({ credentials: config.credentials, region: await config.region(), service: 'ebs', sha256: NodeSha256, uriEscapePath: true });
    }
    return this.signer;
  }
}

/** An error answer as the SDK would raise it: its name from x-amzn-ErrorType or the body, the reason and status kept. */
function answerError(status: number, errorType: string | undefined, text: string): Error {
  let body: { message?: string; Message?: string; Reason?: string; __type?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // Not the API's JSON (a proxy's page, an XML refusal): the status says enough.
  }
  const name = (errorType ?? body.__type ?? `Http${status}`).split(':')[0]!.split('#').pop()!;
  const err = new Error(body.message ?? body.Message ?? (text.slice(0, 200) || `HTTP ${status}`)) as Error & { Reason?: string; $metadata: { httpStatusCode: number } };
  err.name = name;
  if (body.Reason) err.Reason = body.Reason;
  err.$metadata = { httpStatusCode: status };
  return err;
}
