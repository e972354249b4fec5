// The Logs page's time range choice: a preset ("Last hour") or custom
// bounds, written as the API's since/until.

export interface TimePreset {
  value: string;
  label: string;
}

/** since values offered as presets (Go durations: days are written in hours). */
export const TIME_PRESETS: readonly TimePreset[] = [
  { value: '15m', label: 'Last 15 minutes' },
  { value: '1h', label: 'Last hour' },
  { value: '6h', label: 'Last 6 hours' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '168h', label: 'Last 7 days' },
];

/** Which choice the since/until pair is: '' (any time), a preset's value, or 'custom'. */
export function timeChoice(since: string, until: string): string {
  if (since === '' && until === '') return '';
  if (until === '' && TIME_PRESETS.some((p) => p.value === since)) return since;
  return 'custom';
}
