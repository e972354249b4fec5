// Package vmlog classifies the lines of a VM's hypervisor log (QEMU's, on
// libvirt) by severity: the log tail the API shows and the qemu entries of
// the log pipeline use the same rules.
package vmlog

import "regexp"

// Severity is how a log line is highlighted.
type Severity string

// The severities of log lines.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// A keyword counts when no letter or digit stands right before it, so that
// "IO error", "error:" and "BLOCK_IO_ERROR" match while the "werror=" and
// "rerror=" options of a QEMU command line do not. Keywords are prefixes:
// "fail" matches "failed" and "failure".
var (
	errorKeywords   = regexp.MustCompile(`(?i)(?:^|[^a-z0-9])(?:error|fail|panic|crash|abort|fatal|no space|permission denied|terminating on signal)`)
	warningKeywords = regexp.MustCompile(`(?i)(?:^|[^a-z0-9])(?:warn|timeout|timed out|retry|retrying|slow|degraded)`)
)

// Classify returns the severity of one QEMU log line: error for failures
// (errors, failed operations, panics, crashes, aborts, a full disk,
// "permission denied", QEMU "terminating on signal" when the VM was stopped
// hard), warning for warnings and the signs of latency (timeouts, retries,
// slowness, degradation), info otherwise. Error wins when both match.
func Classify(line string) Severity {
	switch {
	case errorKeywords.MatchString(line):
		return SeverityError
	case warningKeywords.MatchString(line):
		return SeverityWarning
	}
	return SeverityInfo
}
