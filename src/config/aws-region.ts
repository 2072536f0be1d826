// AWS region and shared-config profile names as jobs, the VM list and the CLIs
// take them. Checked by shape only (the list of regions grows every year): a name
// of the right shape that AWS does not know fails at AWS, with AWS's message.

/**
 * us-east-1, eu-west-3, ap-southeast-2, us-gov-west-1, cn-north-1 ...: the shape the
 * AWS provider itself accepts (src/providers/aws), so that what the gateway takes
 * the worker takes too.
 */
export const AWS_REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+$/;

export const AWS_REGION_SHAPE = 'an AWS region name such as us-east-1 or eu-west-1';

/**
 * A profile of the shared AWS config (~/.aws/config, [profile <name>]). Only plain
 * characters: the name travels in workflow input and shows in the Temporal UI.
 */
export const AWS_PROFILE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@+=,-]{0,127}$/;

export const AWS_PROFILE_SHAPE = 'a profile name of the shared AWS config: letters, digits and _ . @ + = , - (at most 128)';

export function isAwsRegion(value: string): boolean {
  return AWS_REGION_PATTERN.test(value);
}

/** The reason `value` is not a region name, or undefined when it is one. */
export function awsRegionProblem(value: string): string | undefined {
  return isAwsRegion(value) ? undefined : `${JSON.stringify(value)} is not ${AWS_REGION_SHAPE}`;
}

export function awsProfileProblem(value: string): string | undefined {
  return AWS_PROFILE_PATTERN.test(value) ? undefined : `${JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value)} is not ${AWS_PROFILE_SHAPE}`;
}
