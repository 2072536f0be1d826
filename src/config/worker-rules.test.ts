import { describe, expect, it } from 'vitest';
import { allowedVcenterHosts, bucketRefusal, vcenterRefusal } from './worker-rules.js';

describe('bucketRefusal (s3.allowed_buckets)', () => {
  const allowed = ['exports', 'shared/team-a'];
  it('allows a listed bucket with any prefix, and a bucket/prefix entry only under its prefix', () => {
    expect(bucketRefusal(allowed, 'exports', '')).toBeUndefined();
    expect(bucketRefusal(allowed, 'exports', 'a/b/')).toBeUndefined();
    expect(bucketRefusal(allowed, 'shared', 'team-a/')).toBeUndefined();
    expect(bucketRefusal(allowed, 'shared', 'team-a/vm1/')).toBeUndefined();
  });
  it.each([
    ['other', ''],
    ['shared', ''],
    ['shared', 'team-b/'],
    ['shared', 'team-ab/'],
    ['exports', 'a/../b/'],
    ['exports', 'a//b/'],
  ])('refuses s3://%s/%s, naming the key', (bucket, prefix) => {
    expect(bucketRefusal(allowed, bucket, prefix)).toMatch(/s3:\/\//);
  });
  it('refuses everything when none is configured (the default)', () => {
    expect(bucketRefusal(undefined, 'exports', '')).toMatch(/s3\.allowed_buckets \(none: S3 output is off\)/);
  });
});

describe('vcenterRefusal (vsphere.allowed_hosts, vsphere.allow_insecure_http)', () => {
  const profiles = {
    default: { url: 'https://vc.example.com/sdk', username: 'u', password: 'p', insecure: false },
  };
  it('defaults to the hosts of the profiles, ports included', () => {
    expect(allowedVcenterHosts({ profiles })).toEqual(['vc.example.com']);
    expect(vcenterRefusal({ profiles }, { url: 'vc.example.com', insecure: false })).toBeUndefined();
    expect(
      vcenterRefusal({ profiles }, { url: 'https://VC.example.com:443/sdk', insecure: false }),
    ).toBeUndefined();
    expect(vcenterRefusal({ profiles }, { url: 'https://vc.example.com:8443/sdk', insecure: false })).toMatch(
      /vsphere\.allowed_hosts/,
    );
    expect(vcenterRefusal({ profiles }, { url: 'https://evil.example.com/sdk', insecure: true })).toMatch(
      /vsphere\.allowed_hosts/,
    );
  });
  it('takes vsphere.allowed_hosts instead when set', () => {
    const rules = { profiles, allowedHosts: ['other.example.com:8443'] };
    expect(
      vcenterRefusal(rules, { url: 'https://other.example.com:8443/sdk', insecure: false }),
    ).toBeUndefined();
    expect(vcenterRefusal(rules, { url: 'https://vc.example.com/sdk', insecure: false })).toMatch(
      /allowed_hosts/,
    );
  });
  it('http:// only when the job is insecure and the config allows it', () => {
    const url = 'http://vc.example.com/sdk';
    expect(vcenterRefusal({ profiles }, { url, insecure: true })).toMatch(/vsphere\.allow_insecure_http/);
    expect(vcenterRefusal({ profiles, allowInsecureHttp: true }, { url, insecure: false })).toMatch(
      /allow_insecure_http/,
    );
    expect(vcenterRefusal({ profiles, allowInsecureHttp: true }, { url, insecure: true })).toBeUndefined();
    expect(vcenterRefusal({ profiles }, { url: 'ftp://vc.example.com/', insecure: true })).toMatch(/scheme/);
  });
});
