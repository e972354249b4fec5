import { describe, expect, it } from 'vitest';
import { closeCodes, consoleURL, describeClose, keyBytes, whyNoConsole } from './session';

describe('consoleURL', () => {
  it('follows the page: ws for http, wss for https, the id escaped, force as a query', () => {
    expect(consoleURL({ protocol: 'http:', host: '127.0.0.1:8080' }, 'web 1')).toBe('ws://127.0.0.1:8080/api/vms/web%201/console');
    expect(consoleURL({ protocol: 'https:', host: 'qx.example' }, 'a/b', true)).toBe(
      'wss://qx.example/api/vms/a%2Fb/console?force=true',
    );
  });
});

describe('whyNoConsole', () => {
  it('allows a running VM to an operator', () => {
    expect(whyNoConsole('RUNNING', '', '')).toBe('');
    expect(whyNoConsole('PAUSED', '', '')).toBe('');
  });
  it('says why not: the role first, then a backend without console, then the state', () => {
    expect(whyNoConsole('RUNNING', 'viewer cannot open consoles: needs operator', '')).toMatch(/needs operator/);
    expect(whyNoConsole('RUNNING', '', 'no console on this backend')).toBe('no console on this backend');
    expect(whyNoConsole('STOPPED', '', '')).toBe('The VM is STOPPED: its console opens only while it runs.');
  });
});

describe('describeClose', () => {
  it('offers to take over a console another user holds, and only then', () => {
    const held = describeClose(4409, 'vm "web": the console is in use by "alice" since 2026-12-06T08:00:00Z; open it with force to take it over');
    expect(held.canTakeOver).toBe(true);
    expect(held.message).toContain('alice');
    const stopped = describeClose(4409, 'vm "web" is STOPPED: its console opens only while it runs; start it first');
    expect(stopped.canTakeOver).toBe(false);
    expect(stopped.message).toContain('STOPPED');
  });
  it('says who took it over and offers to take it back', () => {
    const e = describeClose(closeCodes.takenOver, 'taken over by "bob"');
    expect(e.message).toBe('The console was taken over by "bob".');
    expect(e.canTakeOver).toBe(true);
    expect(e.failed).toBe(true);
  });
  it('marks a backend without console as unsupported', () => {
    const e = describeClose(4501, 'vm "web": the backend of node n1 has no serial console');
    expect(e.unsupported).toBe(true);
    expect(e.message).toMatch(/^No console: /);
  });
  it('tells normal ends from failures', () => {
    expect(describeClose(closeCodes.vmStopped, 'vm "web" stopped').failed).toBe(false);
    expect(describeClose(closeCodes.vmStopped, 'vm "web" stopped').message).toBe('The console ended: vm "web" stopped.');
    expect(describeClose(closeCodes.nodeGone, '').message).toBe("The console ended: the VM's node went away.");
    expect(describeClose(closeCodes.goingAway, 'the server is shutting down').failed).toBe(true);
    expect(describeClose(closeCodes.abnormal, '').message).toMatch(/connection to the server was lost/);
    expect(describeClose(4404, 'vm "x" not found').message).toBe('The console cannot open: vm "x" not found.');
    expect(describeClose(4999, '').message).toBe('The console ended (code 4999).');
  });
  it('says Disconnected when the user left, whatever the code', () => {
    expect(describeClose(closeCodes.normal, '', true)).toEqual({ message: 'Disconnected.', failed: false, canTakeOver: false, unsupported: false });
  });
});

describe('keyBytes', () => {
  it('sends UTF-8, control characters as they are', () => {
    expect(Array.from(keyBytes('a\r\x03é'))).toEqual([0x61, 0x0d, 0x03, 0xc3, 0xa9]);
  });
});
