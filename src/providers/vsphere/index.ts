// Public surface of the vSphere provider.
export { connectVsphere, VsphereProvider, type VsphereConnectOptions } from './provider.js';
export { createVsphereDispatcher, normaliseThumbprint, type TlsPolicy } from './tls.js';
export { parseDatastorePath } from './vm.js';
