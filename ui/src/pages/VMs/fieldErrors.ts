// Maps the API's 422 messages to the create form's fields. The API starts an
// invalid_argument message with the path of the value it refuses
// ("vcpus: must be at least 1", "disks[0].bus: ...", "labels.env: ...",
// "disks[1]: needs size_gib ..."); the form shows it under that field.

/** A form field key: a top-level field, or `disks.<i>.<sub>` / `nics.<i>.<sub>`. */
export type FieldKey = string;

export interface FieldError {
  field: FieldKey;
  message: string;
}

const topLevel = new Set([
  'name',
  'description',
  'vcpus',
  'memory_mib',
  'restart_policy',
  'node_id',
  'labels',
  'boot',
  'disks',
  'nics',
  'kernel',
  'initrd',
  'cmdline',
]);

// What a row-level message without a sub-field ("disks[0]: ...") is shown under.
const rowDefault: Record<string, string> = { disks: 'size_gib', nics: 'type' };

const pathRE = /^([a-z_]+)(?:\[(\d+)\])?(?:\.([^:\s]+))?:\s/;

/**
 * parseFieldError returns the form field a 422 message names, or null when the
 * message does not start with a field the form has (the form then shows it as a
 * general error).
 */
export function parseFieldError(message: string): FieldError | null {
  const m = pathRE.exec(message);
  if (!m) return null;
  const [, root, index, sub] = m;
  if (!topLevel.has(root)) return null;
  if (root === 'labels' || root === 'boot') return { field: root, message };
  if ((root === 'disks' || root === 'nics') && index !== undefined) {
    return { field: `${root}.${index}.${sub ?? rowDefault[root]}`, message };
  }
  if (index !== undefined || sub !== undefined) return null;
  return { field: root, message };
}
