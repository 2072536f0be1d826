// Keeps Temporal's per-worker INFO chatter out of the test output; warnings and
// errors still show. Runs in every integration test process before the tests.
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // Already installed in this process (vitest reuses workers between files).
}
