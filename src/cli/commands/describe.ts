import { Command } from 'commander';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import { ExitCode } from '../exit-codes.js';
import { guardStatusWords } from '../format.js';
import type { CommandContext } from './shared.js';
import { printJson } from './shared.js';
import { withTemporal, withTemporalOptions, type TemporalOptions } from './temporal-direct.js';

export function describeCommand(ctx: CommandContext): Command {
  return withTemporalOptions(
    new Command('describe').description("describe an export's workflow in Temporal (status, pending activities, heartbeats)").requiredOption('--id <id>', 'job id'),
  ).action(async (options: TemporalOptions & { id: string }) => {
    const { io } = ctx;
    await withTemporal(options, io, async (client) => {
      const d = await client.workflow.getHandle(options.id).describe();
      const activities = await Promise.all(
        (d.raw.pendingActivities ?? []).map(async (a) => ({
          activity: a.activityType?.name ?? '?',
          attempt: a.attempt ?? 1,
          last_failure: a.lastFailure?.message ?? undefined,
          heartbeat: a.heartbeatDetails?.payloads?.length
            ? (await decodeArrayFromPayloads(client.options.loadedDataConverter, a.heartbeatDetails.payloads))[0]
            : undefined,
        })),
      );
      const summary = {
        workflow_id: d.workflowId,
        run_id: d.runId,
        type: d.type,
        status: d.status.name,
        task_queue: d.taskQueue,
        started_at: d.startTime.toISOString(),
        closed_at: d.closeTime?.toISOString(),
        history_length: d.historyLength,
        search_attributes: Object.fromEntries(d.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])),
        pending_activities: activities,
      };
      if (options.json) printJson(io, summary);
      else {
        const lines = [
          `Workflow:   ${summary.workflow_id} (run ${summary.run_id})`,
          `Type:       ${summary.type} on ${summary.task_queue}`,
          `Started:    ${summary.started_at}${summary.closed_at ? `, closed ${summary.closed_at}` : ''}`,
          `History:    ${summary.history_length} events`,
          ...Object.entries(summary.search_attributes).map(([k, v]) => `${k}: ${String(v)}`),
          ...activities.map((a) => `Activity:   ${a.activity} attempt ${a.attempt}${a.heartbeat ? ` heartbeat ${JSON.stringify(a.heartbeat)}` : ''}${a.last_failure ? ` last error: ${a.last_failure}` : ''}`),
        ];
        const status = summary.status === 'RUNNING' ? 'running' : summary.status.toLowerCase();
        io.out(`Status:     ${summary.status}\n${guardStatusWords(lines.join('\n'), status)}\n`);
      }
      ctx.setExitCode(ExitCode.Ok);
    });
  });
}
