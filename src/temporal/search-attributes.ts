import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Custom search attributes that make exports findable in the Temporal UI and by
// `hyperctl query`. The dev server is started with them registered; a production
// cluster registers them once with `temporal operator search-attribute create`
// (see temporal/search-attributes.txt).
export const VmPathAttr = defineSearchAttributeKey('HyperVmPath', SearchAttributeType.KEYWORD);
export const ProviderAttr = defineSearchAttributeKey('HyperProvider', SearchAttributeType.KEYWORD);
export const JobNameAttr = defineSearchAttributeKey('HyperJobName', SearchAttributeType.KEYWORD);

export const searchAttributes = [VmPathAttr, ProviderAttr, JobNameAttr] as const;
