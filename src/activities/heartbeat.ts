// Control activities wait on things that can take much longer than their
// heartbeat timeout: a snapshot task or its removal (consolidating a large delta
// takes hours), a guest shutdown, an export session becoming ready, publishing an
// OVA. Without heartbeats the server takes such a live attempt for a dead worker
// and starts a second one beside it.
import { Context } from '@temporalio/activity';

/** How often a waiting activity heartbeats (the SDK throttles what reaches the server): inside any heartbeat timeout a job may set. */
export const WAIT_HEARTBEAT_MS = 1_000;

/**
 * Runs `work` while heartbeating every `everyMs`. Each beat re-sends the latest
 * details (set through `beat(details)`), so a periodic beat never erases a resume
 * point an earlier beat recorded.
 */
export async function whileHeartbeating<T>(work: (beat: (details?: unknown) => void) => Promise<T>, everyMs = WAIT_HEARTBEAT_MS): Promise<T> {
  const ctx = Context.current();
  let details: unknown = ctx.info.heartbeatDetails;
  const beat = (next?: unknown) => {
    if (next !== undefined) details = next;
    ctx.heartbeat(details);
  };
  beat();
  const timer = setInterval(() => beat(), everyMs);
  try {
    return await work(beat);
  } finally {
    clearInterval(timer);
  }
}
