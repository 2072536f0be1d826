import { describe, expect, it } from 'vitest';
import { inFlagWords } from './standalone-cloud-backend.js';

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
