// The shapes of AWS resource ids, one definition for the gateway (job validation)
// and the provider (what a reference names): AWS ids are the prefix and 8 or 17
// hex digits.
const HEX_ID = '[0-9a-f]{8,17}';

export const INSTANCE_ID = new RegExp(`^i-${HEX_ID}$`);
export const VOLUME_ID = new RegExp(`^vol-${HEX_ID}$`);
export const SNAPSHOT_ID = new RegExp(`^snap-${HEX_ID}$`);

/** One "vol-…=snap-…" pair of a snapshot set, capturing both ids. */
export const SNAPSHOT_PAIR = new RegExp(`^(vol-${HEX_ID})=(snap-${HEX_ID})$`);

/** options.since_snapshot: one snapshot id, or a snapshot set's "vol-…=snap-…" pairs, comma-separated. */
export const SINCE_SNAPSHOT = new RegExp(
  `^(?:snap-${HEX_ID}|vol-${HEX_ID}=snap-${HEX_ID}(?:,vol-${HEX_ID}=snap-${HEX_ID})*)$`,
);
