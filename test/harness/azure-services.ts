// What the azure project's global setup hands to the tests (through vitest's provide/inject).
import type { ServiceInfo } from './services.js';
import type { AzureAccount } from './azure-sas.js';

export interface AzureServices extends AzureAccount {
  workDir: string;
  /** The Temporal dev server the exports of this project run on. */
  temporal: { address: string; namespace: string };
  /** S3 outputs: a MinIO with one bucket (its own keys, in the worker's s3 config). */
  minio: Pick<ServiceInfo['minio'], 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey' | 'bucket'>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    azure: AzureServices;
  }
}
