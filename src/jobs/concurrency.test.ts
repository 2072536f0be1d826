import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { Limiter } from './concurrency.js';
import { TemporalJobStore } from './temporal-jobs.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('Limiter', () => {
  it('runs at most `limit` calls at once, all of them, in order of arrival', async () => {
    const limiter = new Limiter(3);
    let inFlight = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limiter.run(async () => {
          inFlight++;
          most = Math.max(most, inFlight);
          order.push(i);
          await tick();
          inFlight--;
        }),
      ),
    );
    expect(most).toBe(3);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('frees the slot of a call that throws', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limiter.run(() => Promise.resolve(7))).resolves.toBe(7);
  });
});

describe('TemporalJobStore describes', () => {
  it('are limited gateway-wide, not only per request, and one query describes each id once', async () => {
    let inFlight = 0;
    let most = 0;
    const described: string[] = [];
    const client = {
      workflow: {
        getHandle: (id: string) => ({
          describe: async () => {
            described.push(id);
            inFlight++;
            most = Math.max(most, inFlight);
            await tick();
            inFlight--;
            throw new WorkflowNotFoundError('not found', id, undefined);
          },
        }),
      },
    } as unknown as Client;
    const store = new TemporalJobStore(client, 'q');
    // Ten concurrent queries of 100 ids each (what ten clients polling at once send).
    const queries = Array.from({ length: 10 }, (_, q) =>
      store.getMany(Array.from({ length: 100 }, (_, i) => `q${q}-${i % 50}`)),
    );
    const results = await Promise.all(queries);
    expect(results.every((r) => r.length === 0)).toBe(true);
    expect(most).toBeLessThanOrEqual(32);
    expect(described).toHaveLength(10 * 50);
  });
});
