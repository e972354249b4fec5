package vmlog

import "testing"

func TestClassify(t *testing.T) {
	cases := []struct {
		line string
		want Severity
	}{
		// The seed's common issues.
		{"2024-01-05T10:00:00.000000Z qemu-system-x86_64: IO error on drive virtio-disk0", SeverityError},
		{"qemu-system-x86_64: terminating on signal 15 from pid 1234 (/usr/sbin/libvirtd)", SeverityError},
		{"Could not open '/var/lib/images/a.qcow2': Permission denied", SeverityError},
		{"qemu-system-x86_64: -chardev socket: timeout waiting for connection", SeverityWarning},
		// Errors.
		{"error: failed to initialize KVM", SeverityError},
		{"block I/O error in device 'drive-virtio-disk0': No space left on device (28)", SeverityError},
		{"migration failed", SeverityError},
		{"kernel panic - not syncing", SeverityError},
		{"2024-01-05 10:00:00.000+0000: shutting down, reason=crashed", SeverityError},
		{"qemu: abort()", SeverityError},
		{"FATAL: cannot allocate memory", SeverityError},
		{"BLOCK_IO_ERROR event", SeverityError},
		{"Failure to connect", SeverityError},
		// Warnings.
		{"qemu-system-x86_64: warning: host doesn't support requested feature: CPUID.01H:ECX.pni [bit 0]", SeverityWarning},
		{"WARN: clock is slow", SeverityWarning},
		{"connection timed out, retrying", SeverityWarning},
		{"storage degraded", SeverityWarning},
		{"qemu: retry 3", SeverityWarning},
		// Error wins over warning.
		{"warning: write error on disk", SeverityError},
		// Info, including command-line options that only contain keywords.
		{"2024-01-05 10:00:00.000+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0", SeverityInfo},
		{"-drive file=/a.qcow2,format=qcow2,werror=stop,rerror=stop \\", SeverityInfo},
		{"char device redirected to /dev/pts/3 (label charserial0)", SeverityInfo},
		{"2024-01-05 10:00:00.000+0000: shutting down, reason=destroyed", SeverityInfo},
		{"", SeverityInfo},
		{"terrors and prefailures are not words here", SeverityInfo},
	}
	for _, c := range cases {
		if got := Classify(c.line); got != c.want {
			t.Errorf("Classify(%q) = %s, want %s", c.line, got, c.want)
		}
	}
}
