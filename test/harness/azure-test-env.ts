// Runs in each test process of the azure project before its tests: the worker's
// Azure credential chain (DefaultAzureCredential) is narrowed to the managed
// identity, which the Resource Manager stand-in serves (azure-arm-fake.ts sets
// IDENTITY_ENDPOINT/IDENTITY_HEADER), so no real credential (a service principal in
// the environment, a workload identity, an Azure CLI login) is ever looked up or
// sent, even to loopback. Temporal's per-worker INFO chatter stays out of the output.
import './quiet-runtime.js';

for (const name of [
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_USERNAME',
  'AZURE_PASSWORD',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_AUTHORITY_HOST',
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'IMDS_ENDPOINT',
]) {
  delete process.env[name];
}
process.env.AZURE_TOKEN_CREDENTIALS = 'ManagedIdentityCredential';
