import { describe, expect, it } from 'vitest';
import { parseFieldError } from './fieldErrors';

describe('parseFieldError', () => {
  it.each([
    ['vcpus: must be at least 1', 'vcpus'],
    ['memory_mib: 16 MiB is less than the minimum of 64 MiB', 'memory_mib'],
    ['name: "a b" holds a space', 'name'],
    ['node_id: node "nope" not found', 'node_id'],
    ['restart_policy: "sometimes" is not one of never, on-crash, always', 'restart_policy'],
    ['labels.env: the value must be UTF-8 text without control characters', 'labels'],
    ['labels: 80 labels, at most 64 allowed', 'labels'],
    ['boot[1]: "usb" is not one of hd, cdrom, network', 'boot'],
    ['disks[0].bus: "usb" is not one of virtio, sata, scsi, ide', 'disks.0.bus'],
    ['disks[2]: needs size_gib for a new disk or base_image for an overlay', 'disks.2.size_gib'],
    ['nics[1].source: a bridge nic needs the bridge name', 'nics.1.source'],
    ['nics[0]: something', 'nics.0.type'],
  ])('%s → %s', (msg, field) => {
    expect(parseFieldError(msg)).toEqual({ field, message: msg });
  });

  it.each(['something failed', 'password: too short', 'vcpus must be at least 1', ''])(
    'names no form field: %s',
    (msg) => {
      expect(parseFieldError(msg)).toBeNull();
    },
  );
});
