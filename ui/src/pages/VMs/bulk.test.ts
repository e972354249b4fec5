import { describe, expect, it } from 'vitest';
import { runBulk, summarize, summaryText, type BulkTarget } from './bulk';

const vms: BulkTarget[] = [
  { id: 'a', name: 'web-1' },
  { id: 'b', name: 'web-2' },
  { id: 'c', name: 'db-1' },
  { id: 'd', name: 'db-2' },
];

describe('runBulk', () => {
  it('gives one result per VM, in the order given, with each failure its own message', async () => {
    const results = await runBulk(vms, async (t) => {
      // finish in reverse order to show the order of results is the input's
      await new Promise((r) => setTimeout(r, (vms.length - vms.indexOf(t)) * 2));
      if (t.name.startsWith('db')) throw new Error(`cannot start vm in state RUNNING (${t.name})`);
      return `${t.name} started`;
    });
    expect(results.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(results.map((r) => r.ok)).toEqual([true, true, false, false]);
    expect(results[0].message).toBe('web-1 started');
    expect(results[2].message).toBe('cannot start vm in state RUNNING (db-1)');
    expect(results[3].message).toBe('cannot start vm in state RUNNING (db-2)');
  });

  it('runs at most the given number of calls at once', async () => {
    let running = 0;
    let most = 0;
    const many = Array.from({ length: 20 }, (_, i) => ({ id: String(i), name: `vm-${i}` }));
    await runBulk(
      many,
      async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 1));
        running--;
        return 'ok';
      },
      3,
    );
    expect(most).toBe(3);
  });

  it('takes a thrown non-Error as the message', async () => {
    const [r] = await runBulk([vms[0]], () => Promise.reject('node gone'));
    expect(r).toMatchObject({ ok: false, message: 'node gone' });
  });
});

describe('summarize', () => {
  it('counts successes and failures and keeps the failures', async () => {
    const results = await runBulk(vms, async (t) => {
      if (t.id === 'b') throw new Error('vm "web-2" is not managed by quantix');
      return 'ok';
    });
    const s = summarize(results);
    expect(s).toMatchObject({ total: 4, succeeded: 3, failed: 1 });
    expect(s.failures.map((f) => f.name)).toEqual(['web-2']);
    expect(summaryText('stop', s)).toBe('3 VMs stopped, 1 failed');
  });

  it('says all succeeded, or all failed', () => {
    expect(summaryText('delete', summarize([{ id: 'a', name: 'a', ok: true, message: '' }]))).toBe('1 VM deleted');
    expect(
      summaryText(
        'start',
        summarize([
          { id: 'a', name: 'a', ok: false, message: 'x' },
          { id: 'b', name: 'b', ok: false, message: 'y' },
        ]),
      ),
    ).toBe('2 of 2 VMs failed');
    expect(summarize([])).toMatchObject({ total: 0, succeeded: 0, failed: 0 });
  });
});
