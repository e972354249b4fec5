package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

// TestSendKeys: stdin's bytes go to the console as they come; a Ctrl-]
// leaves, sending what came before it and nothing after; stdin's end is
// no error.
func TestSendKeys(t *testing.T) {
	var got bytes.Buffer
	if err := sendKeys(&got, iotest.OneByteReader(strings.NewReader("ls\r\x1dpoweroff\r"))); !errors.Is(err, errLeft) {
		t.Fatalf("Ctrl-]: %v, want errLeft", err)
	}
	if got.String() != "ls\r" {
		t.Errorf("sent %q before Ctrl-], want %q", got.String(), "ls\r")
	}
	got.Reset()
	if err := sendKeys(&got, strings.NewReader("uname -a\r")); err != nil {
		t.Fatalf("stdin's end: %v, want nil", err)
	}
	if got.String() != "uname -a\r" {
		t.Errorf("sent %q", got.String())
	}
	got.Reset()
	if err := sendKeys(&got, strings.NewReader("echo x\r\x1d")); !errors.Is(err, errLeft) || got.String() != "echo x\r" {
		t.Errorf("a chunk ending in Ctrl-]: %v, sent %q", err, got.String())
	}
}
