import { describe, expect, it } from 'vitest';
import { redactUrl, redactUrlsInText, redactUserinfo, withoutUserinfo } from './redact.js';

describe('redactUrl', () => {
  it('drops userinfo, query and fragment', () => {
    expect(redactUrl('https://admin:s3cret@vc.example:8443/sdk?token=abc#x')).toBe(
      'https://vc.example:8443/sdk',
    );
    expect(redactUrl(new URL('https://user@vc.example/folder/a.vmdk?dcPath=DC0'))).toBe(
      'https://vc.example/folder/a.vmdk',
    );
  });

  it('scrubs what it cannot parse instead of echoing it', () => {
    expect(redactUrl('https://user:secret@[bad')).not.toContain('secret');
  });
});

describe('redactUserinfo', () => {
  it('removes every URL userinfo from free text, including passwords with @ and :', () => {
    const text =
      'cannot talk to vCenter at https://user:secret@127.0.0.1:1/sdk: fetch failed for HTTP://a:b@c/d ' +
      'and https://u:p@ss:w@rd@vc/sdk';
    const out = redactUserinfo(text);
    expect(out).toBe(
      'cannot talk to vCenter at https://127.0.0.1:1/sdk: fetch failed for HTTP://c/d and https://vc/sdk',
    );
    expect(out).not.toMatch(/secret|p@ss/);
  });

  it('leaves text without userinfo alone', () => {
    const text = 'GET https://vc/folder/x.vmdk?dsName=a@b failed; mail admin@example.com';
    expect(redactUserinfo(text)).toBe(text);
  });
});

describe('withoutUserinfo', () => {
  it('keeps the rest of the URL usable', () => {
    expect(withoutUserinfo('https://user:secret@vc.example/sdk?x=1')).toBe('https://vc.example/sdk?x=1');
    expect(withoutUserinfo('https://vc.example/sdk')).toBe('https://vc.example/sdk');
  });
});

describe('redactUrlsInText', () => {
  it('cuts every URL in a log line to scheme://host/path', () => {
    expect(redactUrlsInText('GET https://svc:p@ss@esx.local/folder/d.vmdk?dcPath=DC0&dsName=ds1#x failed; see http://h/a?t=1')).toBe(
      'GET https://esx.local/folder/d.vmdk failed; see http://h/a',
    );
  });
});
