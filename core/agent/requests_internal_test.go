package agent

import (
	"fmt"
	"testing"
	"time"

	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// TestRequestsForget: a finished request is remembered for RequestMemory
// and the finished ones beyond maxRemembered are forgotten oldest first; a
// request still running is never forgotten, nor is any after it.
func TestRequestsForget(t *testing.T) {
	r := newRequests()
	now := time.Now()
	cmd := &agentv1.Command{Op: agentv1.Op_OP_START, VmId: "v"}
	running, first := r.begin("running", cmd, now)
	if !first {
		t.Fatal("a new request is not new")
	}
	for i := range maxRemembered + 10 {
		run, _ := r.begin(fmt.Sprint(i), cmd, now)
		r.finish(run, &agentv1.CommandReply{}, now)
	}
	if _, first := r.begin("running", cmd, now.Add(2*RequestMemory)); first {
		t.Fatal("a request still running was forgotten")
	}
	if n := r.len(); n != maxRemembered+11 {
		t.Fatalf("%d requests remembered behind one still running, want all %d", n, maxRemembered+11)
	}
	r.finish(running, &agentv1.CommandReply{}, now)
	r.begin("next", cmd, now.Add(time.Minute))
	if n := r.len(); n != maxRemembered+1 {
		t.Fatalf("%d requests remembered, want %d (the newest finished ones and the one running)", n, maxRemembered+1)
	}
	if _, first := r.begin(fmt.Sprint(maxRemembered+9), cmd, now.Add(time.Minute)); first {
		t.Error("the newest finished request was forgotten")
	}
	if _, first := r.begin("0", cmd, now.Add(time.Minute)); !first {
		t.Error("the oldest finished request beyond the limit is still remembered")
	}
	r.begin("late", cmd, now.Add(RequestMemory+2*time.Minute))
	if _, first := r.begin(fmt.Sprint(maxRemembered+9), cmd, now.Add(RequestMemory+2*time.Minute)); !first {
		t.Error("a request finished longer than RequestMemory ago is still remembered")
	}
}
