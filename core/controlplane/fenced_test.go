package controlplane

import (
	"fmt"
	"testing"

	"github.com/quantixvm/quantix/core/store"
)

// TestFencedIsNotStale: a write fenced out by a newer leader is
// unavailable, never a conflict to retry.
func TestFencedIsNotStale(t *testing.T) {
	err := storeError("marking node n1 UNREACHABLE", fmt.Errorf("tx: %w", store.ErrFenced))
	if err.Kind != KindUnavailable {
		t.Errorf("kind %v, want KindUnavailable: %v", err.Kind, err)
	}
}
