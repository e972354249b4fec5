package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestErrorsSurviveStatus(t *testing.T) {
	cases := []struct {
		in    error
		kind  Kind
		field string
		is    error
	}{
		{NotFound("vm %q not found", "x"), KindNotFound, "", ErrNotFound},
		{InvalidArgument("spec.vcpus", "vcpus: must be at least 1"), KindInvalidArgument, "spec.vcpus", ErrInvalidArgument},
		{Conflict("vm is paused"), KindConflict, "", ErrConflict},
		{Unavailable("libvirtd down: %w", errors.New("socket closed")), KindUnavailable, "", ErrUnavailable},
		{Unsupported("no pause"), KindUnsupported, "", ErrUnsupported},
		{errors.New("boom"), KindInternal, "", nil},
	}
	for _, c := range cases {
		got := FromStatus(ToStatus(c.in))
		if KindOf(got) != c.kind {
			t.Errorf("%v: kind %v after the wire, want %v", c.in, KindOf(got), c.kind)
		}
		if FieldOf(got) != c.field {
			t.Errorf("%v: field %q after the wire, want %q", c.in, FieldOf(got), c.field)
		}
		if c.is != nil && !errors.Is(got, c.is) {
			t.Errorf("%v: errors.Is(%v) false after the wire", c.in, c.is)
		}
		if !strings.Contains(got.Error(), c.in.Error()) {
			t.Errorf("message %q lost on the wire, got %q", c.in, got)
		}
	}
	if errors.Is(NotFound("x"), ErrConflict) {
		t.Error("a not-found error matched ErrConflict")
	}
	if got := FromStatus(ToStatus(context.Canceled)); !errors.Is(got, context.Canceled) {
		t.Errorf("context.Canceled became %v", got)
	}
	if ToStatus(nil) != nil || FromStatus(nil) != nil {
		t.Error("nil must stay nil")
	}
}

// TestHelpersWrap checks that every helper formats its message as
// fmt.Errorf does and keeps the causes wrapped with %w, without taking
// their kind.
func TestHelpersWrap(t *testing.T) {
	cause := errors.New("socket closed")
	other := &Error{Kind: KindConflict, Message: "busy"}
	helpers := map[Kind]func(format string, args ...any) error{
		KindNotFound:        NotFound,
		KindConflict:        Conflict,
		KindUnavailable:     Unavailable,
		KindUnsupported:     Unsupported,
		KindInvalidArgument: func(format string, args ...any) error { return InvalidArgument("uri", format, args...) },
	}
	for kind, build := range helpers {
		err := build("reaching %s: %w", "qemu:///system", cause)
		if KindOf(err) != kind || err.Error() != "reaching qemu:///system: socket closed" || !errors.Is(err, cause) {
			t.Errorf("%s helper = %v (kind %s, wraps the cause: %v), want kind %s, the formatted message and the cause",
				kind, err, KindOf(err), errors.Is(err, cause), kind)
		}
		if err := build("two causes: %w, %w", cause, other); !errors.Is(err, cause) || !errors.Is(err, other) || KindOf(err) != kind {
			t.Errorf("%s helper with two %%w = %v (kind %s), want both causes and kind %s", kind, err, KindOf(err), kind)
		}
		var e *Error
		if err := build("no cause %d", 1); !errors.As(err, &e) || e.Err != nil || e.Message != "no cause 1" {
			t.Errorf("%s helper without %%w = %#v, want message \"no cause 1\" and no cause", kind, err)
		}
	}
	if FieldOf(InvalidArgument("uri", "bad: %w", cause)) != "uri" {
		t.Error("InvalidArgument with %w lost its field")
	}
}

func TestDecodeConfig(t *testing.T) {
	type cfg struct {
		URI   string `json:"uri"`
		Count int    `json:"count"`
	}
	c := cfg{URI: "default"}
	if err := DecodeConfig(nil, &c); err != nil || c.URI != "default" {
		t.Fatalf("empty config: %v, %+v", err, c)
	}
	if err := DecodeConfig([]byte(`{"uri":"test:///default","count":2}`), &c); err != nil || c.URI != "test:///default" || c.Count != 2 {
		t.Fatalf("decode: %v, %+v", err, c)
	}
	err := DecodeConfig([]byte(`{"uri":"x","bogus":1}`), &c)
	if KindOf(err) != KindInvalidArgument || FieldOf(err) != "bogus" || !strings.Contains(err.Error(), `unknown attribute "bogus"`) {
		t.Errorf("unknown attribute: %v (field %q)", err, FieldOf(err))
	}
	err = DecodeConfig([]byte(`{"count":"many"}`), &c)
	if FieldOf(err) != "count" || !strings.Contains(err.Error(), `attribute "count" must be int`) {
		t.Errorf("wrong type: %v (field %q)", err, FieldOf(err))
	}
}

// TestDecodeConfigNestedUnknown checks that an unknown attribute of a
// nested block is named by its whole path, as type errors are.
func TestDecodeConfigNestedUnknown(t *testing.T) {
	type disk struct {
		Size int `json:"size"`
	}
	type vms struct {
		Count int `json:"count"`
	}
	type cfg struct {
		Name  string          `json:"name"`
		VMs   vms             `json:"vms"`
		Extra *vms            `json:"extra"`
		Disks []disk          `json:"disks"`
		Pools map[string]disk `json:"pools"`
	}
	cases := map[string]string{
		`{"colour":1}`:                                  "colour",
		`{"vms":{"count":1,"colour":1}}`:                "vms.colour",
		`{"VMS":{"colour":1}}`:                          "VMS.colour",
		`{"extra":{"colour":1}}`:                        "extra.colour",
		`{"disks":[{"size":1},{"size":2,"colour":1}]}`:  "disks[1].colour",
		`{"pools":{"a":{"size":1},"b":{"colour":1}}}`:   "pools.b.colour",
		`{"vms":{"count":1},"disks":[{"count":1}]}`:     "disks[0].count",
		`{"name":"count","vms":{"count":1,"name":"x"}}`: "vms.name",
	}
	for in, want := range cases {
		var c cfg
		err := DecodeConfig([]byte(in), &c)
		if KindOf(err) != KindInvalidArgument || FieldOf(err) != want || !strings.Contains(err.Error(), `unknown attribute "`+want+`"`) {
			t.Errorf("DecodeConfig(%s) = %v (field %q), want an unknown attribute %q", in, err, FieldOf(err), want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	if v, err := Negotiate([]int{1, 2, 3}, []int{2, 3, 4}); err != nil || v != 3 {
		t.Errorf("Negotiate = %d, %v; want 3", v, err)
	}
	if _, err := Negotiate([]int{1}, []int{2}); err == nil || !strings.Contains(err.Error(), "host speaks [1], plugin speaks [2]") {
		t.Errorf("no common version: %v", err)
	}
	if err := (Info{Name: "x"}).Validate(); err == nil || !strings.Contains(err.Error(), "type, version, api_versions") {
		t.Errorf("incomplete info: %v", err)
	}
	if BinaryName(TypeBackend, "libvirt") != "quantix-backend-libvirt" {
		t.Error("BinaryName")
	}
}
