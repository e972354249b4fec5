package wire

import (
	"strings"

	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// OpName is how messages name an operation: "start", "tail_log". The
// operations are declared once, as agentv1.Op; one this build does not know
// is named by its number.
func OpName(op agentv1.Op) string {
	return strings.ToLower(strings.TrimPrefix(op.String(), "OP_"))
}
