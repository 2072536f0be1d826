// What the integration harness hands to the tests (through vitest's provide/inject).
export interface ServiceInfo {
  workDir: string;
  temporal: { address: string; namespace: string };
  vcsim: { sdkUrl: string; host: string; username: string; password: string; dataDir: string };
  minio: { endpoint: string; accessKeyId: string; secretAccessKey: string; region: string; bucket: string };
  toxiproxy: { apiUrl: string };
  govc: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceInfo;
  }
}
