package logsinktest

import (
	"context"
	"strings"
	"testing"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Serve serves impl through go-plugin's gRPC transport inside the test
// process (goplugin.TestPluginGRPCConn) and returns the host side: the
// *logsink.GRPCClient dispensed under logsink.PluginName, exactly what the
// daemon gets from a plugin process. Entries, results and errors cross a
// real gRPC connection. Client and server are shut down when t ends; impl
// itself is not closed.
func Serve(t testing.TB, impl logsink.Sink) *logsink.GRPCClient {
	t.Helper()
	ps := goplugin.PluginSet{logsink.PluginName: logsink.NewGRPCPlugin(impl)}
	// Closing the client asks the server, through go-plugin's controller
	// service, to stop: the same shutdown path a plugin process takes.
	client, _ := goplugin.TestPluginGRPCConn(t, false, ps)
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(logsink.PluginName)
	if err != nil {
		t.Fatalf("dispensing plugin %q over gRPC: %v", logsink.PluginName, err)
	}
	c, ok := raw.(*logsink.GRPCClient)
	if !ok {
		t.Fatalf("dispensing plugin %q: got %T, want *logsink.GRPCClient", logsink.PluginName, raw)
	}
	return c
}

// Id prefixes the injector acts on. An entry whose id starts with one of
// them never reaches the sink under test.
const (
	// injectRetry: the entry gets a retryable result.
	injectRetry = "qxinject-retry-"
	// injectRefuse: the entry gets a permanent result.
	injectRefuse = "qxinject-refuse-"
	// injectFailUnavailable: the whole Write fails as unavailable.
	injectFailUnavailable = "qxinject-fail-unavailable-"
	// injectFailInvalid: the whole Write fails as an invalid argument.
	injectFailInvalid = "qxinject-fail-invalid-"
)

// injectedMessage is the message of an injected result for entry id.
func injectedMessage(id string) string { return "logsinktest: injected result for " + id }

// injector wraps the sink under test on the plugin side of the connection
// and answers entries with an injected id itself, so the suite can check
// that every kind of result and error crosses the wire unchanged whatever
// the sink does.
type injector struct {
	logsink.Sink
}

// Write answers injected entries and passes the others on, keeping the
// order of results.
func (in *injector) Write(ctx context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	results := make([]logsink.Result, len(entries))
	var pass []logsink.Entry
	var idx []int
	for i, e := range entries {
		switch {
		case strings.HasPrefix(e.ID, injectFailUnavailable):
			return nil, plugin.Unavailable(nil, "%s", injectedMessage(e.ID))
		case strings.HasPrefix(e.ID, injectFailInvalid):
			return nil, plugin.InvalidArgument("entries", "%s", injectedMessage(e.ID))
		case strings.HasPrefix(e.ID, injectRetry):
			results[i] = logsink.RetryLater("%s", injectedMessage(e.ID))
		case strings.HasPrefix(e.ID, injectRefuse):
			results[i] = logsink.Refused("%s", injectedMessage(e.ID))
		default:
			pass = append(pass, e)
			idx = append(idx, i)
		}
	}
	if len(pass) == 0 {
		return results, nil
	}
	got, err := in.Sink.Write(ctx, pass)
	if err != nil {
		return nil, err
	}
	if len(got) != len(pass) {
		// Passed on as is: the client reports the wrong count.
		return got, nil
	}
	for i, r := range got {
		results[idx[i]] = r
	}
	return results, nil
}

// Flush passes Flush on when the sink has it.
func (in *injector) Flush(ctx context.Context) error {
	if f, ok := in.Sink.(logsink.Flusher); ok {
		return f.Flush(ctx)
	}
	return nil
}
