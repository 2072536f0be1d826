// Shared access signatures for Azurite, signed here with the account key
// (HMAC-SHA256 over the string-to-sign of Azure Storage's REST reference, version
// 2020-10-02: the layout before encryption scopes joined it). Independent of the
// code under test, which only ever receives the URLs.
import { createHmac } from 'node:crypto';

export const SAS_VERSION = '2020-10-02';

export interface AzureAccount {
  /** http://127.0.0.1:<port>/<account> */
  blobEndpoint: string;
  account: string;
  accountKey: string;
}

function sign(key: string, stringToSign: string): string {
  return createHmac('sha256', Buffer.from(key, 'base64')).update(stringToSign, 'utf8').digest('base64');
}

/** Seconds precision, as the service writes and compares times. */
export function sasTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** An account SAS for the blob service (containers, blobs): what the harness seeds with. */
export function accountSas(a: AzureAccount, expiresAt: Date, permissions = 'rwdlac'): string {
  const se = sasTime(expiresAt);
  const stringToSign = [a.account, permissions, 'b', 'sco', '', se, '', 'http', SAS_VERSION, ''].join('\n');
  const q = new URLSearchParams({ sv: SAS_VERSION, ss: 'b', srt: 'sco', sp: permissions, se, spr: 'http', sig: sign(a.accountKey, stringToSign) });
  return q.toString();
}

export interface BlobSasOptions {
  container: string;
  blob: string;
  expiresAt: Date;
  /** Default 'r' (what GrantAccess with access=Read gives). */
  permissions?: string;
  /** Sign as if for this blob instead (a SAS for another blob). */
  signedBlob?: string;
  /** Sign with this key instead (a SAS the account's key rotation revoked). */
  key?: string;
}

/** A service SAS URL of one blob (sr=b), as GrantAccess hands one out. */
export function blobSasUrl(a: AzureAccount, o: BlobSasOptions): string {
  const sp = o.permissions ?? 'r';
  const se = sasTime(o.expiresAt);
  const resource = `/blob/${a.account}/${o.container}/${o.signedBlob ?? o.blob}`;
  const stringToSign = [sp, '', se, resource, '', '', 'http', SAS_VERSION, 'b', '', '', '', '', '', ''].join('\n');
  const q = new URLSearchParams({ sv: SAS_VERSION, sr: 'b', sp, se, spr: 'http', sig: sign(o.key ?? a.accountKey, stringToSign) });
  return `${a.blobEndpoint}/${o.container}/${o.blob}?${q.toString()}`;
}
