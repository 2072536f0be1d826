import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { CliError } from '../daemon-client.js';
import { ExitCode } from '../exit-codes.js';
import { cloudError, inFlagWords } from './standalone-cloud-backend.js';

describe('inFlagWords', () => {
  it("says the gateway's request fields as hyperexport's flags, and this process's configuration for the daemon's", () => {
    expect(inFlagWords("region: is required for provider aws: give region (e.g. us-east-1), or set aws.region (AWS_REGION) in the daemon's configuration")).toBe(
      "-region: is required for provider aws: give -region (e.g. us-east-1), or set aws.region (AWS_REGION) in this process's configuration",
    );
    expect(inFlagWords('subscription_id: is required for provider azure with a VM name: give subscription_id, a VM resource id as vm_path, or set azure.subscription_id (AZURE_SUBSCRIPTION_ID)')).toBe(
      '-subscription: is required for provider azure with a VM name: give -subscription, a VM resource id as -vm, or set azure.subscription_id (AZURE_SUBSCRIPTION_ID)',
    );
    expect(inFlagWords('resource_group: must be 1-90 characters')).toBe('-resource-group: must be 1-90 characters');
    // Words that only contain a field's name stay as they are.
    expect(inFlagWords('regions and subregion_x')).toBe('regions and subregion_x');
  });
});

describe('cloudError', () => {
  it('gives refused credentials exit 4 in the words of this process, a missing VM exit 1, an unreached cloud exit 3', () => {
    const refused = cloudError(
      ApplicationFailure.create({ type: 'AuthenticationFailed', message: "AWS us-east-1: the worker's credentials were refused or not found (CredentialsProviderError) calling ec2:DescribeInstances; check its AWS profile or credential chain" }),
      'aws',
    );
    expect(refused).toBeInstanceOf(CliError);
    expect(refused.exitCode).toBe(ExitCode.Unauthorized);
    expect(refused.message).toBe(
      "AWS us-east-1: this process's credentials were refused or not found (CredentialsProviderError) calling ec2:DescribeInstances; check its AWS profile or credential chain (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
    );
    const missing = cloudError(ApplicationFailure.create({ type: 'VmNotFound', message: 'Azure: VM web-9 not found in rg-apps' }), 'azure');
    expect([missing.exitCode, missing.message]).toEqual([ExitCode.Failed, "Azure: VM web-9 not found in rg-apps; run 'hyperexport -provider azure -standalone' in a terminal to list them"]);
    const unreached = cloudError(new Error('connect ECONNREFUSED 127.0.0.1:1'), 'aws');
    expect([unreached.exitCode, unreached.message]).toEqual([ExitCode.Unreachable, 'AWS: connect ECONNREFUSED 127.0.0.1:1']);
  });
});
