// AWS SDK clients for a moto server on loopback, as the tests talk to it: the real
// SDK v3 clients, with the dummy credentials aws-dummy-credentials.ts puts in the
// environment (moto checks no signature; real credentials must never reach a test).
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';

export interface MotoEndpoint {
  endpoint: string;
  region: string;
}

// One attempt: a test asserts what the server answered, not what a retry hid.
export function ebsClient(moto: MotoEndpoint): EBSClient {
  return new EBSClient({ endpoint: moto.endpoint, region: moto.region, maxAttempts: 1 });
}

export function ec2Client(moto: MotoEndpoint): EC2Client {
  return new EC2Client({ endpoint: moto.endpoint, region: moto.region, maxAttempts: 1 });
}
