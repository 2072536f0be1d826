// What EC2 says about instances, volumes, snapshots, instance types and images, in
// as few calls as the answer needs: every call through awsCall (errors name the IAM
// action and the region), lists paginated, instance types cached (they never change).
import {
  DescribeImagesCommand,
  DescribeInstanceTypesCommand,
  DescribeSnapshotsCommand,
  paginateDescribeInstances,
  paginateDescribeVolumes,
  type _InstanceType,
  type Filter,
  type Instance,
  type InstanceTypeInfo,
  type Snapshot,
  type Volume,
} from '@aws-sdk/client-ec2';
import type { AwsClients } from './clients.js';
import { ErrorType } from '../../core/errors.js';
import { awsCall, awsCode, failure } from './errors.js';

/** Instances that still exist (terminated ones linger in DescribeInstances for about an hour). */
export const LIVE_INSTANCE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];
/** Values per filter / ids per DescribeInstanceTypes call, as EC2 accepts them. */
const FILTER_VALUES = 200;
const TYPES_PER_CALL = 100;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class Ec2Inventory {
  private readonly types = new Map<string, InstanceTypeInfo | undefined>();

  constructor(private readonly c: AwsClients) {}

  get region(): string {
    return this.c.region;
  }

  /** One instance by id (whatever its state); VmNotFound when EC2 does not know it. */
  async instance(id: string): Promise<Instance> {
    const found = await this.instances({ InstanceIds: [id] }, `instance "${id}"`);
    const instance = found.find((i) => i.InstanceId === id);
    if (!instance) return this.notFound(`instance "${id}"`);
    return instance;
  }

  /** Live instances whose Name tag is `name`. */
  instancesNamed(name: string): Promise<Instance[]> {
    return this.instances(
      {
        Filters: [
          { Name: 'tag:Name', Values: [name] },
          { Name: 'instance-state-name', Values: LIVE_INSTANCE_STATES },
        ],
      },
      `instances named "${name}"`,
    );
  }

  /** Every live instance of the region. */
  allInstances(): Promise<Instance[]> {
    return this.instances(
      { Filters: [{ Name: 'instance-state-name', Values: LIVE_INSTANCE_STATES }] },
      'the instances',
    );
  }

  private async instances(
    input: { InstanceIds?: string[]; Filters?: Filter[] },
    subject: string,
  ): Promise<Instance[]> {
    return awsCall({ action: 'ec2:DescribeInstances', region: this.region, subject }, async () => {
      const out: Instance[] = [];
      // MaxResults cannot be combined with InstanceIds.
      const pages = paginateDescribeInstances(
        { client: this.c.ec2, pageSize: input.InstanceIds ? undefined : 1000 },
        input,
      );
      for await (const page of pages)
        for (const r of page.Reservations ?? []) out.push(...(r.Instances ?? []));
      return out;
    });
  }

  /** Volumes by id; an id EC2 no longer knows is absent from the map (a filter, not VolumeIds, so one gone volume fails nothing). */
  async volumes(ids: readonly string[]): Promise<Map<string, Volume>> {
    const out = new Map<string, Volume>();
    for (const part of chunks([...new Set(ids)], FILTER_VALUES)) {
      await awsCall(
        { action: 'ec2:DescribeVolumes', region: this.region, subject: `volumes ${part.join(', ')}` },
        async () => {
          const pages = paginateDescribeVolumes(
            { client: this.c.ec2, pageSize: 500 },
            { Filters: [{ Name: 'volume-id', Values: part }] },
          );
          for await (const page of pages)
            for (const v of page.Volumes ?? []) if (v.VolumeId) out.set(v.VolumeId, v);
        },
      );
    }
    return out;
  }

  async volume(id: string): Promise<Volume> {
    const v = (await this.volumes([id])).get(id);
    if (!v) return this.notFound(`volume "${id}"`);
    return v;
  }

  async snapshot(id: string): Promise<Snapshot> {
    const out = await awsCall(
      { action: 'ec2:DescribeSnapshots', region: this.region, subject: `snapshot "${id}"` },
      () => this.c.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] })),
    );
    const s = out.Snapshots?.find((x) => x.SnapshotId === id);
    if (!s) return this.notFound(`snapshot "${id}"`);
    return s;
  }

  /**
   * The instance types' facts (vCPUs, memory, hypervisor, boot modes), cached. A type
   * EC2 cannot describe (InvalidInstanceType) maps to undefined: the description then
   * says 0 CPUs rather than failing the export.
   */
  async instanceTypes(names: readonly string[]): Promise<Map<string, InstanceTypeInfo | undefined>> {
    const missing = [...new Set(names)].filter((n) => n && !this.types.has(n));
    for (const part of chunks(missing, TYPES_PER_CALL)) {
      let infos: InstanceTypeInfo[];
      try {
        const out = await awsCall(
          {
            action: 'ec2:DescribeInstanceTypes',
            region: this.region,
            subject: `instance types ${part.join(', ')}`,
          },
          () => this.c.ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: part as _InstanceType[] })),
        );
        infos = out.InstanceTypes ?? [];
      } catch (err) {
        if (awsCode(err) !== 'InvalidInstanceType') throw err;
        // One unknown type refuses the whole call: ask the others one by one.
        infos = [];
        if (part.length > 1)
          for (const n of part)
            infos.push(...[...(await this.instanceTypes([n])).values()].filter((v) => v !== undefined));
      }
      for (const n of part)
        this.types.set(
          n,
          infos.find((t) => t.InstanceType === n),
        );
    }
    return new Map(names.map((n) => [n, this.types.get(n)]));
  }

  /**
   * The AMI's BootMode, only a hint for the firmware: an image deregistered since, or
   * a worker not allowed ec2:DescribeImages, leaves the firmware to the fallback
   * (firmwareOf) instead of failing the description.
   */
  async imageBootMode(imageId: string | undefined): Promise<string | undefined> {
    if (!imageId) return undefined;
    try {
      const out = await this.c.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
      return out.Images?.find((i) => i.ImageId === imageId)?.BootMode;
    } catch {
      return undefined;
    }
  }

  private notFound(subject: string): never {
    throw failure(ErrorType.VmNotFound, `AWS ${this.region}: no ${subject}`, true);
  }
}
