package libvirt

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Quantix's metadata element inside a domain's <metadata>.
const (
	// MetadataNamespace is the XML namespace of the Quantix metadata element.
	MetadataNamespace = "https://quantixvm.io/xmlns/libvirt/v1"
	// MetadataPrefix is the prefix the element is written with.
	MetadataPrefix  = "quantix"
	metadataVersion = 1
)

// vmMetadata is what Quantix records in a domain it created.
type vmMetadata struct {
	Version     int
	Description string
	CreatedAt   time.Time
	// Volumes are the volumes created for this VM; only these are ever
	// deleted with it.
	Volumes []ownedVolume
}

// ownedVolume is one volume a VM owns.
type ownedVolume struct {
	// Disk is the disk's name in the VM spec.
	Disk string
	Pool string
	Name string
	Path string
	// Base is the image the volume is an overlay of; never owned.
	Base string
}

// metadataOut is the element as written: explicit prefixes, because
// encoding/xml cannot choose a prefix for a namespace.
type metadataOut struct {
	XMLName     xml.Name    `xml:"quantix:vm"`
	NS          string      `xml:"xmlns:quantix,attr"`
	Version     int         `xml:"version,attr"`
	Managed     bool        `xml:"quantix:managed"`
	Description string      `xml:"quantix:description,omitempty"`
	CreatedAt   string      `xml:"quantix:created,omitempty"`
	Volumes     []volumeXML `xml:"quantix:volume"`
}

// metadataIn is the element as read back, matched by namespace.
type metadataIn struct {
	XMLName     xml.Name    `xml:"https://quantixvm.io/xmlns/libvirt/v1 vm"`
	Version     int         `xml:"version,attr"`
	Managed     bool        `xml:"https://quantixvm.io/xmlns/libvirt/v1 managed"`
	Description string      `xml:"https://quantixvm.io/xmlns/libvirt/v1 description"`
	CreatedAt   string      `xml:"https://quantixvm.io/xmlns/libvirt/v1 created"`
	Volumes     []volumeXML `xml:"https://quantixvm.io/xmlns/libvirt/v1 volume"`
}

type volumeXML struct {
	Disk string `xml:"disk,attr"`
	Pool string `xml:"pool,attr,omitempty"`
	Name string `xml:"name,attr,omitempty"`
	Path string `xml:"path,attr"`
	Base string `xml:"base,attr,omitempty"`
}

// marshal renders the metadata element.
func (m vmMetadata) marshal() (string, error) {
	out := metadataOut{
		NS:          MetadataNamespace,
		Version:     metadataVersion,
		Managed:     true,
		Description: m.Description,
	}
	if !m.CreatedAt.IsZero() {
		out.CreatedAt = m.CreatedAt.UTC().Format(time.RFC3339)
	}
	for _, v := range m.Volumes {
		out.Volumes = append(out.Volumes, volumeXML(v))
	}
	b, err := xml.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encoding quantix metadata: %w", err)
	}
	return string(b), nil
}

// parseMetadata finds the Quantix element in the inner XML of a domain's
// <metadata>. ok is false when the domain has none (a foreign VM).
func parseMetadata(inner string) (m vmMetadata, ok bool, err error) {
	if !strings.Contains(inner, MetadataNamespace) {
		return vmMetadata{}, false, nil
	}
	dec := xml.NewDecoder(strings.NewReader(inner))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return vmMetadata{}, false, nil
		}
		if err != nil {
			return vmMetadata{}, false, fmt.Errorf("parsing domain metadata: %w", err)
		}
		start, isStart := tok.(xml.StartElement)
		if !isStart || start.Name.Space != MetadataNamespace || start.Name.Local != "vm" {
			continue
		}
		var in metadataIn
		if err := dec.DecodeElement(&in, &start); err != nil {
			return vmMetadata{}, false, fmt.Errorf("parsing quantix metadata: %w", err)
		}
		return in.toMetadata(), in.Managed, nil
	}
}

func (in metadataIn) toMetadata() vmMetadata {
	m := vmMetadata{Version: in.Version, Description: in.Description}
	if t, err := time.Parse(time.RFC3339, in.CreatedAt); err == nil {
		m.CreatedAt = t
	}
	for _, v := range in.Volumes {
		m.Volumes = append(m.Volumes, ownedVolume(v))
	}
	return m
}

// owns reports whether path is a volume the VM owns.
func (m vmMetadata) owns(path string) (ownedVolume, bool) {
	for _, v := range m.Volumes {
		if v.Path == path {
			return v, true
		}
	}
	return ownedVolume{}, false
}
