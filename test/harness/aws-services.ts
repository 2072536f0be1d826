// What the aws project's global setup hands to the tests (through vitest's provide/inject).
import type { MotoPatch } from '../../src/devservices/moto.js';
import type { MotoEndpoint } from './aws-clients.js';
import type { ServiceInfo } from './services.js';

export interface AwsServices {
  workDir: string;
  /** moto with every patch of src/devservices/moto_patches.py: AWS as documented. */
  patched: MotoEndpoint;
  /** moto as released: what each patch changes, shown side by side. */
  unpatched: MotoEndpoint;
  /** Patches HYPERSDK_MOTO_WITHOUT leaves out: a test that starts a server of its own leaves them out too. */
  patchesLeftOut: MotoPatch[];
  /** The Temporal dev server the exports of this project run on. */
  temporal: { address: string; namespace: string };
  /** S3 outputs: a MinIO with one bucket (its own keys, in the worker's s3 config, never the AWS source's chain). */
  minio: Pick<ServiceInfo['minio'], 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey' | 'bucket'>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    aws: AwsServices;
  }
}
