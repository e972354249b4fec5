import { describe, expect, it } from 'vitest';
import { LOG_COMPONENTS, componentLook, legendFor } from './logComponents';

// The components the API validates (docs/logs.md).
const apiComponents = [
  'vm', 'storage', 'network', 'node', 'cluster', 'auth', 'settings', 'dashboard', 'console',
  'logs', 'alerts', 'monitoring', 'updates', 'folders', 'images', 'system', 'qemu',
];

describe('component legend', () => {
  it('has a look for every component the API knows, in its order', () => {
    expect(LOG_COMPONENTS.map((c) => c.name)).toEqual(apiComponents);
  });

  it('gives each component its own colour and icon pair and a label', () => {
    const pairs = new Set(LOG_COMPONENTS.map((c) => `${c.color}/${c.icon.displayName ?? c.icon.name}`));
    expect(pairs.size).toBe(LOG_COMPONENTS.length);
    const icons = new Set(LOG_COMPONENTS.map((c) => c.icon));
    expect(icons.size).toBe(LOG_COMPONENTS.length);
    for (const c of LOG_COMPONENTS) expect(c.label).not.toBe('');
  });

  it('maps names to their look, and unknown or empty ones to a grey fallback', () => {
    expect(componentLook('qemu').label).toBe('QEMU');
    expect(componentLook('vm').color).toBe('blue');
    const unknown = componentLook('backup');
    expect(unknown).toMatchObject({ name: 'backup', label: 'backup', color: 'grey' });
    expect(componentLook('').label).toBe('None');
    expect(componentLook(undefined).label).toBe('None');
  });

  it("follows the server's list, keeping components it does not know yet", () => {
    expect(legendFor(undefined).length).toBe(apiComponents.length);
    expect(legendFor(['qemu', 'vm', 'backup', 'vm']).map((c) => c.label)).toEqual(['QEMU', 'VM', 'backup']);
  });
});
