import { AsyncLocalStorage } from 'node:async_hooks';
import type { S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import type { S3Settings } from '../config/types.js';
import { bucketRefusal } from '../config/worker-rules.js';
import type { SinkRef } from '../core/export-contract.js';
import { ErrorType } from '../core/errors.js';
import { LocalSink } from '../storage/local-sink.js';
import type { OutputSink } from '../storage/sink.js';

/** Where this worker lets exports write, from its own configuration (never from the workflow input). */
export interface SinkRules {
  /** output.allowed_roots (real paths). */
  allowedRoots: readonly string[];
  /** s3.allowed_buckets ("bucket" or "bucket/prefix"). */
  allowedBuckets: readonly string[];
}

export interface SinkFactory {
  /**
   * Opens the sink a workflow names, after checking it against the rules
   * (OutputNotAllowed, BucketNotAllowed: non-retryable, nothing written). A local
   * sink's directory is opened here, once, and closed when the activity that
   * opened it ends (see scoped()).
   */
  open(ref: SinkRef): Promise<OutputSink>;
  /** Wraps activities so that the sinks each execution opens are closed when it ends. */
  scoped<T extends object>(activities: T): T;
  close(): void;
}

const S3_CONNECT_TIMEOUT_MS = 10_000;
const S3_IDLE_TIMEOUT_MS = 60_000;

/**
 * Opens the sink a workflow names; one S3 client per worker, built on first use.
 * The AWS SDK is imported then too: a worker that only ever writes local files
 * never holds its modules (about 5 MB of RSS).
 */
export function createSinkFactory(s3Settings: S3Settings, rules: SinkRules): SinkFactory {
  let client: S3Client | undefined;
  const s3 = async () => {
    const { S3Client } = await import('@aws-sdk/client-s3');
    return (client ??= new S3Client({
      region: s3Settings.region,
      forcePathStyle: s3Settings.forcePathStyle,
      // An idle limit, not a deadline (the SDK's requestTimeout): a part still uploading at any speed never trips it.
      requestHandler: { connectionTimeout: S3_CONNECT_TIMEOUT_MS, socketTimeout: s3Settings.idleTimeoutMs ?? S3_IDLE_TIMEOUT_MS },
      ...(s3Settings.endpoint ? { endpoint: s3Settings.endpoint } : {}),
      ...(s3Settings.accessKeyId && s3Settings.secretAccessKey
        ? {
            credentials: { accessKeyId: s3Settings.accessKeyId, secretAccessKey: s3Settings.secretAccessKey },
          }
        : {}),
    }));
  };
  // The local sinks opened by the activity execution running in this async context.
  const opened = new AsyncLocalStorage<Set<LocalSink>>();
  return {
    async open(ref) {
      if (ref.kind === 'local') {
        const sink = new LocalSink(ref.directory, { allowedRoots: rules.allowedRoots });
        await sink.open();
        const scope = opened.getStore();
        if (scope) scope.add(sink);
        return sink;
      }
      const refusal = bucketRefusal(rules.allowedBuckets, ref.bucket, ref.prefix);
      if (refusal)
        throw ApplicationFailure.create({
          type: ErrorType.BucketNotAllowed,
          message: refusal,
          nonRetryable: true,
        });
      const { S3Sink } = await import('../storage/s3-sink.js');
      return new S3Sink({ client: await s3(), bucket: ref.bucket, prefix: ref.prefix });
    },
    scoped<T extends object>(activities: T): T {
      const wrapped: Record<string, unknown> = {};
      for (const [name, fn] of Object.entries(activities)) {
        wrapped[name] =
          typeof fn === 'function'
            ? (...args: unknown[]) => {
                const sinks = new Set<LocalSink>();
                return opened.run(sinks, async (): Promise<unknown> => {
                  try {
                    return await (fn as (...a: unknown[]) => unknown).apply(activities, args);
                  } finally {
                    await Promise.allSettled([...sinks].map((s) => s.close()));
                  }
                });
              }
            : fn;
      }
      return wrapped as T;
    },
    close() {
      client?.destroy();
    },
  };
}
