// What the VM pages read from a failed API call.
import { ApiError } from '../../api/client';

/** errorStatus is the HTTP status of a failed call, or 0 when it never got a reply. */
export function errorStatus(err: unknown): number {
  return err instanceof ApiError ? err.status : 0;
}

/** errorText is the API's message for a failed call (what the user must fix). */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
