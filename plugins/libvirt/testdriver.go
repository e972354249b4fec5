package libvirt

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

// WriteTestDriverFile writes a libvirt test-driver node file with n stopped
// Quantix VMs (qx-bench-00000, ...), each with 64 MiB, 1 vCPU, a user-mode
// NIC, a serial console and Quantix metadata. Open it with the URI
// "test://" + path (path absolute).
func WriteTestDriverFile(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing test driver file: %w", err)
	}
	w := bufio.NewWriter(f)
	err = writeTestNode(w, n)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing test driver file %s: %w", path, err)
	}
	return nil
}

func writeTestNode(w *bufio.Writer, n int) error {
	if _, err := w.WriteString("<node>\n"); err != nil {
		return err
	}
	for i := range n {
		doc, err := testDomainXML(i)
		if err != nil {
			return err
		}
		if _, err := w.WriteString(doc + "\n"); err != nil {
			return err
		}
	}
	_, err := w.WriteString("</node>\n")
	return err
}

// testDomainXML is the i-th domain of a test driver file.
func testDomainXML(i int) (string, error) {
	name := fmt.Sprintf("qx-bench-%05d", i)
	meta, err := vmMetadata{Description: "benchmark vm " + name, CreatedAt: time.Unix(0, 0)}.marshal()
	if err != nil {
		return "", err
	}
	spec := testSpec(name)
	def := buildDomain(domainPlan{Spec: spec, DomainType: "test", NICs: []nicPlan{{NICSpec: spec.NICs[0]}}, Metadata: meta})
	def.UUID = fmt.Sprintf("5158ba6e-0000-4000-8000-%012x", i)
	return def.Marshal()
}
