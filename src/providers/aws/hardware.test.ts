// The EC2 → neutral-description choices that moto cannot show (it reports no boot
// mode, no Xen-only volumes, no credentials refusals): each decided here.
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { ErrorType } from '../../core/errors.js';
import { awsCall, isNotFound } from './errors.js';
import {
  controllerTypeOf,
  diskSlot,
  firmwareOf,
  guestOf,
  nicsOf,
  orderedEbsDevices,
  powerStateOf,
} from './hardware.js';
import { encodeSnapshotSet, parseSnapshotSet } from './snapshots.js';

describe('power states', () => {
  it('is off only when stopped (or terminated); booting and stopping instances still run', () => {
    expect(['running', 'pending', 'stopping', 'shutting-down'].map(powerStateOf)).toEqual(
      Array(4).fill('poweredOn'),
    );
    expect(['stopped', 'terminated'].map(powerStateOf)).toEqual(['poweredOff', 'poweredOff']);
  });
});

describe('firmware', () => {
  it('follows the boot mode EC2 reports, then the AMI’s, then the architecture', () => {
    expect(firmwareOf({ current: 'legacy-bios', instance: 'uefi' })).toBe('bios');
    expect(firmwareOf({ instance: 'uefi' })).toBe('efi');
    expect(firmwareOf({ image: 'legacy-bios', architecture: 'arm64' })).toBe('bios');
    expect(firmwareOf({ instance: 'uefi-preferred', supported: ['legacy-bios', 'uefi'] })).toBe('efi');
    expect(firmwareOf({ instance: 'uefi-preferred', supported: ['legacy-bios'] })).toBe('bios');
    expect(firmwareOf({ architecture: 'arm64' })).toBe('efi');
    expect(firmwareOf({ architecture: 'x86_64' })).toBe('bios');
  });
});

describe('guest', () => {
  it('tells Windows from the rest, and names the platform', () => {
    expect(guestOf('windows', 'Windows with SQL Server Standard', 'x86_64')).toEqual({
      guestId: 'windows9Server64Guest',
      guestFullName: 'Windows with SQL Server Standard',
    });
    expect(guestOf(undefined, undefined, 'arm64')).toEqual({
      guestId: 'otherLinux64Guest',
      guestFullName: 'Linux/UNIX (arm64)',
    });
  });
});

describe('disks', () => {
  it('root device first, then by device name (numbers compared as numbers); instance-store devices left out', () => {
    const ordered = orderedEbsDevices(
      [
        { DeviceName: '/dev/sdb10', Ebs: { VolumeId: 'vol-c' } },
        { DeviceName: '/dev/sdb2', Ebs: { VolumeId: 'vol-b' } },
        { DeviceName: '/dev/sda', Ebs: { VolumeId: 'vol-root' } },
        { DeviceName: '/dev/sdz' },
      ],
      '/dev/sda1',
    );
    expect(ordered.map((d) => d.volumeId)).toEqual(['vol-root', 'vol-b', 'vol-c']);
  });

  it('Nitro disks are NVMe, Xen ones paravirtual SCSI, which skips unit 7 and holds 15 disks', () => {
    expect(controllerTypeOf('nitro')).toBe('nvme');
    expect(controllerTypeOf('xen')).toBe('pvscsi');
    expect([6, 7, 14, 15].map((i) => diskSlot(i, 'pvscsi'))).toEqual([
      { controllerKey: 1000, unitNumber: 6 },
      { controllerKey: 1000, unitNumber: 8 },
      { controllerKey: 1000, unitNumber: 15 },
      { controllerKey: 1001, unitNumber: 0 },
    ]);
    expect(diskSlot(7, 'nvme')).toEqual({ controllerKey: 1000, unitNumber: 7 });
  });
});

describe('NICs', () => {
  it('in attachment order, eth0 first, as virtio', () => {
    const nics = nicsOf([
      { MacAddress: '02:00:00:00:00:02', SubnetId: 'subnet-b', Attachment: { DeviceIndex: 1 } },
      { MacAddress: '02:00:00:00:00:01', SubnetId: 'subnet-a', Attachment: { DeviceIndex: 0 } },
    ]);
    expect(nics).toEqual([
      { key: 0, label: 'eth0', macAddress: '02:00:00:00:00:01', network: 'subnet-a', adapterType: 'virtio' },
      { key: 1, label: 'eth1', macAddress: '02:00:00:00:00:02', network: 'subnet-b', adapterType: 'virtio' },
    ]);
  });
});

describe('snapshot set ids', () => {
  it('round-trip, and anything else is refused as input', () => {
    const pairs = [
      { volumeId: 'vol-0123456789abcdef0', snapshotId: 'snap-0123456789abcdef0' },
      { volumeId: 'vol-12345678', snapshotId: 'snap-87654321' },
    ];
    expect(parseSnapshotSet(encodeSnapshotSet(pairs), 'eu-west-1')).toEqual(pairs);
    for (const bad of ['', 'snap-12345678', 'vol-12345678=snap-1;rm', 'vol-12345678=snap-87654321,']) {
      expect(() => parseSnapshotSet(bad, 'eu-west-1')).toThrow(
        expect.objectContaining({ type: ErrorType.InvalidInput }) as Error,
      );
    }
  });
});

describe('AWS errors', () => {
  const refuse = (name: string) => () =>
    Promise.reject(
      new EC2ServiceException({
        name,
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: `${name} message. Encoded authorization failure message: abc`,
      }),
    );
  const ctx = { action: 'ec2:CreateSnapshots', region: 'eu-west-1', subject: 'instance i-0123456789abcdef0' };

  it('a missing permission is final and names the action and the region, without the encoded message', async () => {
    const err = (await awsCall(ctx, refuse('UnauthorizedOperation')).catch(
      (e: unknown) => e,
    )) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe(ErrorType.SourceRefused);
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('ec2:CreateSnapshots');
    expect(err.message).toContain('eu-west-1');
    expect(err.message).not.toContain('Encoded');
  });

  it('refused credentials are AuthenticationFailed; NotFound codes VmNotFound; throttling stays retryable', async () => {
    const failed = (name: string) =>
      awsCall(ctx, refuse(name)).catch((e: unknown) => e as ApplicationFailure);
    expect((await failed('AuthFailure')).type).toBe(ErrorType.AuthenticationFailed);
    const missing = await failed('InvalidInstanceID.NotFound');
    expect(missing.type).toBe(ErrorType.VmNotFound);
    expect(isNotFound(missing)).toBe(true);
    const throttled = await failed('RequestLimitExceeded');
    expect(throttled.type).toBe('RequestLimitExceeded');
    expect(throttled.nonRetryable).toBe(false);
  });
});
