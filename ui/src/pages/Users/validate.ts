// Checks of the user and token forms made before sending, so the common
// mistakes are said at the field; the server checks again and its message
// is shown when it refuses.

export const ROLES = ['viewer', 'operator', 'admin'] as const;

/** A user name as the API takes it: 1..64 of a-z, 0-9, ".", "_", "-", starting with a letter or digit. */
export function userNameError(name: string): string | undefined {
  if (name === '') return 'The name is required';
  if (name.length > 64) return 'At most 64 characters';
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) return 'Lower-case letters, digits, ".", "_" and "-", starting with a letter or digit';
  return undefined;
}

/** A token name: 1..64 bytes of printable text saying what the token is for. */
export function tokenNameError(name: string): string | undefined {
  if (name.trim() === '') return 'Say what the token is for';
  if (new TextEncoder().encode(name).length > 64) return 'At most 64 bytes';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'Printable characters only';
  return undefined;
}

/** The API's password rule: at least 12 characters (code points), at most 1024 bytes. */
export function passwordError(pw: string, confirm: string): string | undefined {
  if (pw === '') return 'The password is required';
  if ([...pw].length < 12) return 'At least 12 characters';
  if (new TextEncoder().encode(pw).length > 1024) return 'At most 1024 bytes';
  if (pw !== confirm) return 'The two passwords differ';
  return undefined;
}

// A Go duration, as ttl takes it (720h); days are written in hours.
const goDuration = /^(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))*$/;

export function ttlError(ttl: string): string | undefined {
  const t = ttl.trim();
  if (t === '') return undefined;
  if (goDuration.test(t)) return undefined;
  if (/^\d+d$/.test(t)) return `Write days in hours: ${String(Number(t.slice(0, -1)) * 24)}h`;
  return 'A duration such as 720h or 90m, or empty for no expiry';
}

/** A token's state for the list: revoked, expired or active. */
export function tokenState(t: { revoked_at?: string | null; expires_at?: string }, now: number = Date.now()): 'revoked' | 'expired' | 'active' {
  if (t.revoked_at) return 'revoked';
  if (t.expires_at && Date.parse(t.expires_at) <= now) return 'expired';
  return 'active';
}
