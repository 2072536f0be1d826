import { describe, expect, it } from 'vitest';
import { checkDownloadUrl } from './download-hosts.js';
import type { VsphereSession } from './session.js';

const session = (url: string) => ({ client: { url: new URL(url) } }) as unknown as VsphereSession;
const esxi = () => Promise.resolve(new Set(['esx-01.example.com', '10.0.0.21']));
const refused = (url: string, vc = 'https://vc.example.com/sdk') =>
  checkDownloadUrl(session(vc), url, esxi).then(
    () => undefined,
    (e: { type?: string; nonRetryable?: boolean }) => [e.type, e.nonRetryable],
  );

describe('checkDownloadUrl: where the session cookie may go', () => {
  it('allows the vCenter (its port or 443) and the ESXi hosts it reports', async () => {
    expect(await refused('https://vc.example.com/nfc/52/disk-0.vmdk')).toBeUndefined();
    expect(
      await refused('https://vc.example.com:8443/nfc/x', 'https://vc.example.com:8443/sdk'),
    ).toBeUndefined();
    expect(await refused('https://ESX-01.example.com/nfc/x')).toBeUndefined();
    expect(await refused('https://10.0.0.21:443/nfc/x')).toBeUndefined();
  });
  it.each([
    'https://evil.example.com/nfc/x',
    'https://vc.example.com:9999/nfc/x',
    'http://vc.example.com/nfc/x',
    'http://esx-01.example.com/nfc/x',
    'ftp://vc.example.com/x',
    'not a url',
  ])('refuses %s (DeviceHostNotAllowed, non-retryable)', async (url) => {
    expect(await refused(url)).toEqual(['DeviceHostNotAllowed', true]);
  });
  it('asks vCenter for its hosts only when the URL is not the vCenter', async () => {
    let asked = 0;
    const counting = () => {
      asked++;
      return esxi();
    };
    await checkDownloadUrl(session('https://vc.example.com/sdk'), 'https://vc.example.com/nfc/x', counting);
    expect(asked).toBe(0);
    await checkDownloadUrl(
      session('https://vc.example.com/sdk'),
      'https://esx-01.example.com/nfc/x',
      counting,
    );
    expect(asked).toBe(1);
  });
});
