package controlplane

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Limits on the free-form fields of a VM.
const (
	MaxDescriptionLength = 1024
	MaxLabels            = 64
	MaxLabelKeyLength    = 63
	MaxLabelValueLength  = 255
)

var labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)

// specError turns an invalid-argument error of backend.ValidateSpec into a
// service error naming the same field.
func specError(err error) error {
	if err == nil {
		return nil
	}
	if plugin.KindOf(err) == plugin.KindInvalidArgument {
		return &Error{Kind: KindInvalid, Field: plugin.FieldOf(err), Message: err.Error(), Err: err}
	}
	return &Error{Kind: KindInvalid, Message: err.Error(), Err: err}
}

// checkSize checks a requested vcpus or memory_mib before it is narrowed to
// the spec's unsigned type.
func checkSize(field string, v int64, least int64, most uint64) error {
	if v < least {
		return invalid(field, "%s: must be at least %d", field, least)
	}
	if uint64(v) > most {
		return invalid(field, "%s: %d is more than %d", field, v, most)
	}
	return nil
}

// checkSpec checks a VM's name and spec as every backend will.
func checkSpec(name string, s vm.Spec) error {
	if err := specError(backend.ValidateSpec(backendSpec(name, "", s))); err != nil {
		return err
	}
	return checkDisks(s.Disks)
}

// checkDescription checks a description.
func checkDescription(d string) error {
	if len(d) > MaxDescriptionLength {
		return invalid("description", "description: %d bytes, at most %d allowed", len(d), MaxDescriptionLength)
	}
	if !utf8.ValidString(d) {
		return invalid("description", "description: must be valid UTF-8")
	}
	return nil
}

// checkLabels checks label keys and values.
func checkLabels(labels map[string]string) error {
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

// maxVCPUs and maxMemoryMiB bound the numbers a request may carry before
// the backend's own checks; memory is bounded by what the spec can hold.
const (
	maxVCPUs     = backend.MaxVCPUs
	maxMemoryMiB = math.MaxUint64 >> 20
)
