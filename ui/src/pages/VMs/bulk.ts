// Bulk actions on several VMs: each VM's call runs on its own, and each gets
// its own result, so one refusal does not hide the others' outcomes.

export type BulkAction = 'start' | 'stop' | 'delete';

export interface BulkTarget {
  id: string;
  name: string;
}

export interface BulkResult extends BulkTarget {
  ok: boolean;
  message: string;
}

export interface BulkSummary {
  total: number;
  succeeded: number;
  failed: number;
  /** The failures, in the order the VMs were given. */
  failures: BulkResult[];
}

/**
 * runBulk calls run for every target, at most `concurrency` at a time, and
 * returns one result per target in the order given. A call that throws is a
 * failure with the error's message; one that resolves is a success with the
 * message it resolves to.
 */
export async function runBulk(
  targets: BulkTarget[],
  run: (t: BulkTarget) => Promise<string>,
  concurrency = 4,
): Promise<BulkResult[]> {
  const results: BulkResult[] = new Array<BulkResult>(targets.length);
  let next = 0;
  async function worker() {
    while (next < targets.length) {
      const i = next++;
      const t = targets[i];
      try {
        const message = await run(t);
        results[i] = { ...t, ok: true, message };
      } catch (err) {
        results[i] = { ...t, ok: false, message: err instanceof Error ? err.message : String(err) };
      }
    }
  }
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, targets.length)) }, worker);
  await Promise.all(workers);
  return results;
}

/** summarize counts the results of a bulk action. */
export function summarize(results: BulkResult[]): BulkSummary {
  const failures = results.filter((r) => !r.ok);
  return {
    total: results.length,
    succeeded: results.length - failures.length,
    failed: failures.length,
    failures,
  };
}

/** summaryText says in one sentence how a bulk action went. */
export function summaryText(action: BulkAction, s: BulkSummary): string {
  const verb = { start: 'started', stop: 'stopped', delete: 'deleted' }[action];
  const vms = (n: number) => `${n} VM${n === 1 ? '' : 's'}`;
  if (s.failed === 0) return `${vms(s.succeeded)} ${verb}`;
  if (s.succeeded === 0) return `${s.failed} of ${vms(s.total)} failed`;
  return `${vms(s.succeeded)} ${verb}, ${s.failed} failed`;
}
