import { describe, expect, it } from 'vitest';
import { passwordError, tokenNameError, tokenState, ttlError, userNameError } from './validate';

describe('user and token forms', () => {
  it('check user names as the API does', () => {
    expect(userNameError('ann')).toBeUndefined();
    expect(userNameError('ops.bot-1_x')).toBeUndefined();
    expect(userNameError('')).toMatch(/required/);
    expect(userNameError('Ann')).toMatch(/Lower-case/);
    expect(userNameError('-ann')).toMatch(/starting/);
    expect(userNameError('a'.repeat(65))).toMatch(/64/);
  });

  it('check token names', () => {
    expect(tokenNameError('prometheus scrape')).toBeUndefined();
    expect(tokenNameError('  ')).toMatch(/what the token is for/);
    expect(tokenNameError('a\tb')).toMatch(/Printable/);
    expect(tokenNameError('é'.repeat(33))).toMatch(/64 bytes/);
  });

  it('check passwords: 12 characters, confirmed', () => {
    expect(passwordError('correct horse', 'correct horse')).toBeUndefined();
    expect(passwordError('short', 'short')).toMatch(/12/);
    expect(passwordError('correct horse', 'correct house')).toMatch(/differ/);
    expect(passwordError('', '')).toMatch(/required/);
    expect(passwordError('ééééééééééé', 'ééééééééééé')).toMatch(/12/);
  });

  it('check a ttl as a Go duration', () => {
    expect(ttlError('')).toBeUndefined();
    expect(ttlError('720h')).toBeUndefined();
    expect(ttlError('1h30m')).toBeUndefined();
    expect(ttlError('30d')).toBe('Write days in hours: 720h');
    expect(ttlError('soon')).toMatch(/duration/);
  });

  it('say whether a token is active', () => {
    const now = Date.parse('2026-01-18T10:00:00Z');
    expect(tokenState({}, now)).toBe('active');
    expect(tokenState({ expires_at: '2026-01-18T09:00:00Z' }, now)).toBe('expired');
    expect(tokenState({ expires_at: '2027-01-01T00:00:00Z' }, now)).toBe('active');
    expect(tokenState({ revoked_at: '2026-01-01T00:00:00Z' }, now)).toBe('revoked');
  });
});
