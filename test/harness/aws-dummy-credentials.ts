// Runs in each test process of the aws project before its tests: the SDK's default
// credential chain then finds these dummy keys first and stops there, so no real
// credentials (a profile, SSO, instance metadata) are ever looked up or sent, even to
// loopback. moto accepts any keys.
process.env.AWS_ACCESS_KEY_ID = 'AKIATESTINGMOTOONLY00';
process.env.AWS_SECRET_ACCESS_KEY = 'moto-accepts-any-secret';
process.env.AWS_REGION = 'us-east-1';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_PROFILE;
