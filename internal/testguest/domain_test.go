package testguest

import (
	"encoding/xml"
	"testing"
)

// TestDomainXML: the definition is well-formed XML that carries the name,
// the memory and the guest's files and command line as given, escaped.
func TestDomainXML(t *testing.T) {
	g := Guest{Kernel: "/tmp/a&b/vmlinuz", Initrd: "/tmp/<x>/initrd.img"}
	var d struct {
		Type   string `xml:"type,attr"`
		Name   string `xml:"name"`
		Memory struct {
			Unit  string `xml:"unit,attr"`
			Value int    `xml:",chardata"`
		} `xml:"memory"`
		OS struct {
			Kernel  string `xml:"kernel"`
			Initrd  string `xml:"initrd"`
			Cmdline string `xml:"cmdline"`
		} `xml:"os"`
		Console struct {
			Type string `xml:"type,attr"`
		} `xml:"devices>console"`
	}
	if err := xml.Unmarshal([]byte(g.DomainXML("h1-guest", 192)), &d); err != nil {
		t.Fatalf("the domain XML does not parse: %v", err)
	}
	if d.Name != "h1-guest" || d.Memory.Value != 192 || d.Memory.Unit != "MiB" {
		t.Errorf("name %q, memory %d %s; want h1-guest, 192 MiB", d.Name, d.Memory.Value, d.Memory.Unit)
	}
	if d.OS.Kernel != g.Kernel || d.OS.Initrd != g.Initrd || d.OS.Cmdline != Cmdline {
		t.Errorf("os = %+v, want the guest's files and %q", d.OS, Cmdline)
	}
	if d.Type != "kvm" && d.Type != "qemu" {
		t.Errorf("domain type %q, want kvm or qemu", d.Type)
	}
	if d.Console.Type != "pty" {
		t.Errorf("console type %q, want pty", d.Console.Type)
	}
}
