import { Command } from 'commander';
import { ExitCode } from '../exit-codes.js';
import type { CommandContext } from './shared.js';
import { printJson } from './shared.js';
import { withTemporal, withTemporalOptions, type TemporalOptions } from './temporal-direct.js';

/** "ACTIVITY_TASK_COMPLETED"-style names from the proto event type. */
function eventName(event: Record<string, unknown>): string {
  const key = Object.keys(event).find((k) => k.endsWith('EventAttributes') && event[k]);
  return key ? key.replace(/EventAttributes$/, '') : 'unknown';
}

export function historyCommand(ctx: CommandContext): Command {
  return withTemporalOptions(
    new Command('history').description("summarise an export's workflow history: events by kind, activity attempts and failures").requiredOption('--id <id>', 'job id'),
  ).action(async (options: TemporalOptions & { id: string }) => {
    const { io } = ctx;
    await withTemporal(options, io, async (client) => {
      const history = await client.workflow.getHandle(options.id).fetchHistory();
      const events = (history.events ?? []) as unknown as Record<string, unknown>[];
      const counts: Record<string, number> = {};
      const activities: Record<string, string> = {};
      const failures: string[] = [];
      for (const event of events) {
        const name = eventName(event);
        counts[name] = (counts[name] ?? 0) + 1;
        const scheduled = event.activityTaskScheduledEventAttributes as { activityType?: { name?: string } } | undefined;
        if (scheduled) activities[String(event.eventId)] = scheduled.activityType?.name ?? '?';
        const failed = (event.activityTaskFailedEventAttributes ?? event.workflowExecutionFailedEventAttributes) as { failure?: { message?: string } } | undefined;
        if (failed?.failure?.message) failures.push(`${name}: ${failed.failure.message}`);
      }
      const summary = { workflow_id: options.id, events: events.length, by_kind: counts, activities_scheduled: Object.values(activities), failures };
      if (options.json) printJson(io, summary);
      else {
        io.out(`Workflow ${options.id}: ${events.length} events\n`);
        for (const [name, n] of Object.entries(counts).sort((a, b) => b[1] - a[1])) io.out(`  ${String(n).padStart(5)}  ${name}\n`);
        if (failures.length) io.out(`Failures:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
      }
      ctx.setExitCode(ExitCode.Ok);
    });
  });
}
