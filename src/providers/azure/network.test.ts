import { describe, expect, it } from 'vitest';
import { nicsOf } from './hardware.js';
import { networkOfSubnet, nicDetailsOf, normalizedMac } from './network.js';

const NIC = (name: string) => `/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/${name}`;

describe('Azure NIC details', () => {
  it.each([
    ['00-0D-3A-12-34-AB', '00:0d:3a:12:34:ab'],
    ['000D3A1234AB', '00:0d:3a:12:34:ab'],
    ['00:0d:3a:12:34:ab', '00:0d:3a:12:34:ab'],
    ['', ''],
    [undefined, ''],
    ['00-0D-3A-12-34', ''],
    ['zz-0D-3A-12-34-AB', ''],
  ])('MAC %s reads as "%s"', (azure, expected) => {
    expect(normalizedMac(azure)).toBe(expected);
  });

  it('names the network by virtual network and subnet', () => {
    expect(networkOfSubnet('/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/prod-vnet/subnets/web')).toBe('prod-vnet/web');
    expect(networkOfSubnet('/something/else')).toBe('');
    expect(networkOfSubnet(undefined)).toBe('');
  });

  it('takes the primary IP configuration\'s subnet, or the first', () => {
    const subnet = (s: string) => ({ id: `/x/virtualNetworks/v/subnets/${s}` });
    expect(nicDetailsOf({ properties: { macAddress: '00-0D-3A-00-00-01', ipConfigurations: [{ properties: { subnet: subnet('a') } }, { properties: { primary: true, subnet: subnet('b') } }] } })).toEqual({ macAddress: '00:0d:3a:00:00:01', network: 'v/b' });
    expect(nicDetailsOf({ properties: { ipConfigurations: [{ properties: { subnet: subnet('a') } }] } })).toEqual({ macAddress: '', network: 'v/a' });
    expect(nicDetailsOf({})).toEqual({ macAddress: '', network: '' });
  });

  it('puts the details on the NICs, primary first, matching ids without regard to case; a NIC without details keeps its name as network', () => {
    const details = new Map([[NIC('nic-b').toLowerCase(), { macAddress: '00:0d:3a:00:00:02', network: 'v/b' }]]);
    expect(nicsOf([{ id: NIC('nic-a') }, { id: NIC('NIC-B'), primary: true }], details)).toEqual([
      { key: 0, label: 'NIC-B', macAddress: '00:0d:3a:00:00:02', network: 'v/b', adapterType: 'virtio' },
      { key: 1, label: 'nic-a', macAddress: '', network: 'nic-a', adapterType: 'virtio' },
    ]);
  });
});
