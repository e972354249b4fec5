package libvirt

import (
	"strings"
	"testing"

	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestParseConfig(t *testing.T) {
	got, err := ParseConfig(nil)
	if err != nil || got != DefaultConfig() {
		t.Fatalf("empty config = %+v, %v; want defaults", got, err)
	}
	got, err = ParseConfig([]byte(`{"uri":"test:///default","image_dir":"/srv/img/","qemu_log_dir":"/tmp/logs","domain_type":"qemu","reboot_timeout":"5s"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{URI: "test:///default", ImageDir: "/srv/img", QEMULogDir: "/tmp/logs", DomainType: "qemu", RebootTimeout: "5s"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		raw   string
		field string
	}{
		{`{"bogus": 1}`, "bogus"},
		{`{"uri": ""}`, "uri"},
		{`{"uri": 5}`, "uri"},
		{`{"image_dir": "relative/dir"}`, "image_dir"},
		{`{"qemu_log_dir": ""}`, "qemu_log_dir"},
		{`{"domain_type": "xen"}`, "domain_type"},
		{`{"reboot_timeout": "soon"}`, "reboot_timeout"},
		{`{"reboot_timeout": "-1s"}`, "reboot_timeout"},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(tt.raw))
		if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != tt.field {
			t.Errorf("%s: err = %v (kind %s, field %q), want invalid argument on %q", tt.raw, err, plugin.KindOf(err), plugin.FieldOf(err), tt.field)
			continue
		}
		if !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: message %q does not name %q", tt.raw, err, tt.field)
		}
	}
}

func TestResolveDomainType(t *testing.T) {
	tests := []struct {
		want, driver string
		kvm          bool
		out          string
		fail         bool
	}{
		{"auto", "TEST", false, "test", false},
		{"auto", "QEMU", true, "kvm", false},
		{"auto", "QEMU", false, "qemu", false},
		{"qemu", "QEMU", true, "qemu", false},
		{"kvm", "QEMU", true, "kvm", false},
		{"kvm", "QEMU", false, "", true},
		{"test", "TEST", false, "test", false},
		{"test", "QEMU", true, "", true},
		{"qemu", "TEST", false, "", true},
	}
	for _, tt := range tests {
		got, err := resolveDomainType(tt.want, tt.driver, tt.kvm)
		if (err != nil) != tt.fail || got != tt.out {
			t.Errorf("resolveDomainType(%s, %s, %v) = %q, %v", tt.want, tt.driver, tt.kvm, got, err)
		}
		if err != nil && plugin.FieldOf(err) != "domain_type" {
			t.Errorf("error %v does not name domain_type", err)
		}
	}
}
