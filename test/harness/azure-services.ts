// What the azure project's global setup hands to the tests (through vitest's provide/inject).
import type { AzureAccount } from './azure-sas.js';

export interface AzureServices extends AzureAccount {
  workDir: string;
  /** The Temporal dev server the exports of this project run on. */
  temporal: { address: string; namespace: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    azure: AzureServices;
  }
}
