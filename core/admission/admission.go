// Package admission holds the rules a VM request must meet before the VM
// service acts on it: the limits of its free-form fields and labels, the
// sizes a spec may ask for, and what a node can hold under its overcommit
// ratios. The rules are pure functions of the request and what the
// inventory says; a Violation names the field that breaks one, and the
// service turns it into its own error (422, or 409 for a node that is full).
package admission

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// A Violation is a request that breaks a rule: Field names the request
// field, Message says how, starting with the field.
type Violation struct {
	Field   string
	Message string
	// Full marks a valid request that the node has no room for now (a
	// conflict), as opposed to a value no node would take.
	Full bool
}

func (v *Violation) Error() string { return v.Message }

func invalid(field, format string, args ...any) *Violation {
	return &Violation{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Limits on the free-form fields of a VM.
const (
	MaxDescriptionLength = 1024
	MaxLabels            = 64
	MaxLabelKeyLength    = 63
	MaxLabelValueLength  = 255
)

// MaxVCPUs and MaxMemoryMiB bound the numbers a request may carry before
// the backend's own checks; memory is bounded by what the spec can hold.
const (
	MaxVCPUs     = backend.MaxVCPUs
	MaxMemoryMiB = math.MaxUint64 >> 20
)

// MaxDiskGiB is the largest disk a VM may ask for: 64 TiB.
const MaxDiskGiB = 64 << 10

var labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)

// Size checks a requested vcpus or memory_mib before it is narrowed to the
// spec's unsigned type.
func Size(field string, v int64, least int64, most uint64) error {
	if v < least {
		return invalid(field, "%s: must be at least %d", field, least)
	}
	if uint64(v) > most {
		return invalid(field, "%s: %d is more than %d", field, v, most)
	}
	return nil
}

// Description checks a description.
func Description(d string) error {
	if len(d) > MaxDescriptionLength {
		return invalid("description", "description: %d bytes, at most %d allowed", len(d), MaxDescriptionLength)
	}
	if !utf8.ValidString(d) {
		return invalid("description", "description: must be valid UTF-8")
	}
	return nil
}

// Labels checks label keys and values.
func Labels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return invalid("labels", "labels: %d labels, at most %d allowed", len(labels), MaxLabels)
	}
	for k, v := range labels {
		switch {
		case k == "":
			return invalid("labels", "labels: a key must not be empty")
		case len(k) > MaxLabelKeyLength:
			return invalid("labels."+k, "labels.%s: the key has %d characters, at most %d allowed", k, len(k), MaxLabelKeyLength)
		case !labelKeyRE.MatchString(k):
			return invalid("labels."+k, "labels: key %q must start with a letter or digit and hold only letters, digits, '.', '_', '/' and '-'", k)
		case len(v) > MaxLabelValueLength:
			return invalid("labels."+k, "labels.%s: the value has %d bytes, at most %d allowed", k, len(v), MaxLabelValueLength)
		case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
			return invalid("labels."+k, "labels.%s: the value must be UTF-8 text without control characters", k)
		}
	}
	return nil
}

// ParseLabelFilter parses one label filter "key=value".
func ParseLabelFilter(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%q is not key=value", s)
	}
	return k, v, nil
}

// Disks refuses disks larger than MaxDiskGiB.
func Disks(disks []vm.Disk) error {
	for i, d := range disks {
		if d.SizeGiB > MaxDiskGiB {
			f := fmt.Sprintf("disks[%d].size_gib", i)
			return invalid(f, "%s: %d GiB is more than the largest disk allowed, %d GiB (64 TiB)", f, d.SizeGiB, MaxDiskGiB)
		}
	}
	return nil
}
