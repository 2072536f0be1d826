import { describe, expect, it } from 'vitest';
import { resolveDaemonUrl } from './commands/shared.js';

describe('daemon URL', () => {
  it('takes -daemon, then HYPERVISOR_URL, HYPERVISORD_URL, HYPERSDK_DAEMON_URL, DAEMON_ADDR, then the default', () => {
    const env = {
      HYPERVISOR_URL: 'http://a:1',
      HYPERVISORD_URL: 'http://b:2',
      HYPERSDK_DAEMON_URL: 'http://c:3',
      DAEMON_ADDR: 'd:4',
    };
    expect(resolveDaemonUrl('http://flag:9', env)).toBe('http://flag:9');
    expect(resolveDaemonUrl(undefined, env)).toBe('http://a:1');
    expect(resolveDaemonUrl(undefined, { ...env, HYPERVISOR_URL: '' })).toBe('http://b:2');
    expect(resolveDaemonUrl(undefined, { HYPERSDK_DAEMON_URL: 'http://c:3', DAEMON_ADDR: 'd:4' })).toBe('http://c:3');
    expect(resolveDaemonUrl(undefined, { DAEMON_ADDR: 'd:4' })).toBe('http://d:4');
    expect(resolveDaemonUrl(undefined, {})).toBe('http://localhost:8080');
  });

  it('reaches a listen-everywhere DAEMON_ADDR through loopback, and completes a bare host:port', () => {
    expect(resolveDaemonUrl(undefined, { DAEMON_ADDR: '0.0.0.0:8080' })).toBe('http://localhost:8080');
    expect(resolveDaemonUrl(undefined, { DAEMON_ADDR: ':9090' })).toBe('http://localhost:9090');
    expect(resolveDaemonUrl(undefined, { DAEMON_ADDR: '[::]:8080' })).toBe('http://[::1]:8080');
    expect(resolveDaemonUrl('localhost:8080', {})).toBe('http://localhost:8080');
    expect(resolveDaemonUrl('https://h:8443', {})).toBe('https://h:8443');
  });
});
