// Throw-away PKI for TLS tests: a CA, a server certificate for loopback names and a
// client certificate, made with the openssl CLI (an independent tool, so the tests
// do not take their certificates from the code they test). Files are PEM, 0600.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second, unrelated CA and a client certificate it signed (must be refused). */
  strangerCert: string;
  strangerKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A new P-256 key written to `<name>.key`, with no passphrase. */
const newKey = (name: string) => [
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-nodes',
  '-keyout',
  `${name}.key`,
];

function makeCa(dir: string, name: string): void {
  openssl(
    ['req', '-x509', ...newKey(name), '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`],
    dir,
  );
}

function makeLeaf(dir: string, ca: string, name: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(['req', ...newKey(name), '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  const sign = ['-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial'];
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      ...sign,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
}

/** Creates the PKI under `dir` (made if missing) and returns the file paths. */
export function makeTestPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  makeCa(dir, 'ca');
  makeCa(dir, 'stranger-ca');
  const serverExt = 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n';
  const clientExt = 'extendedKeyUsage=clientAuth\n';
  makeLeaf(dir, 'ca', 'server', serverExt);
  makeLeaf(dir, 'ca', 'client', clientExt);
  makeLeaf(dir, 'stranger-ca', 'stranger', clientExt);
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    strangerCert: p('stranger.crt'),
    strangerKey: p('stranger.key'),
  };
}

/** Reads a PEM file as a Buffer (what Node's tls and Temporal's TLS options take). */
export function pem(path: string): Buffer {
  return readFileSync(path);
}
