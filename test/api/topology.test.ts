import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/waitFor.ts';
import { callApi, SpecChecker } from './harness.ts';
import { postSpans, SERVICE_CALLS, STORING_DAEMON } from './traces.ts';

let daemon: RunningDaemon;
let base: string;
const T = Date.now() - 60_000;
const range = `from=${new Date(T - 600_000).toISOString()}&to=${new Date(T + 600_000).toISOString()}`;

beforeAll(async () => {
  daemon = await startDaemon(STORING_DAEMON);
  base = daemon.apiUrl('');
  await postSpans(daemon, SERVICE_CALLS, T);
}, 120_000);

afterAll(async () => {
  await daemon?.stop();
});

describe('GET /api/v1/services/dependencies', () => {
  it("answers a service's callers and callees from the parent and child spans stored, most calls first", async () => {
    const spec = await SpecChecker.load(base);
    let answer = await callApi(base, 'GET', `/api/v1/services/dependencies?service=checkout&${range}`);
    await waitFor(async () => {
      answer = await callApi(base, 'GET', `/api/v1/services/dependencies?service=checkout&${range}`);
      return (answer.body as { edges?: unknown[] }).edges?.length === 2;
    }, 'the spans stored and joined');
    spec.check('GET', '/api/v1/services/dependencies', answer);
    // Spans within checkout make no edge; search and catalog are another trace's.
    expect(answer.body).toEqual({
      service: 'checkout',
      edges: [
        { caller: 'checkout', callee: 'payments', calls: 2 },
        { caller: 'frontend', callee: 'checkout', calls: 1 },
      ],
    });
    const leaf = await callApi(base, 'GET', `/api/v1/services/dependencies?service=catalog&${range}`);
    expect((leaf.body as { edges: unknown }).edges).toEqual([{ caller: 'search', callee: 'catalog', calls: 1 }]);
  });

  it('reads only the range and the tenant asked for, and refuses a range it cannot read', async () => {
    const before = `from=${new Date(T - 7_200_000).toISOString()}&to=${new Date(T - 3_600_000).toISOString()}`;
    const earlier = await callApi(base, 'GET', `/api/v1/services/dependencies?service=checkout&${before}`);
    expect(earlier.body).toEqual({ service: 'checkout', edges: [] });
    const otherTenant = await callApi(
      base,
      'GET',
      `/api/v1/services/dependencies?service=checkout&${range}&tenant=acme`,
    );
    expect((otherTenant.body as { edges: unknown }).edges).toEqual([]);
    const backwards = await callApi(
      base,
      'GET',
      `/api/v1/services/dependencies?service=checkout&from=${new Date(T).toISOString()}&to=${new Date(T - 1000).toISOString()}`,
    );
    expect(backwards.status).toBe(400);
    expect((await callApi(base, 'GET', `/api/v1/services/dependencies?${range}`)).status).toBe(400);
  });
});
