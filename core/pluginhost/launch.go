package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// process is one started plugin process and what go-plugin dispensed from
// it.
type process struct {
	client *goplugin.Client
	// raw is the dispensed client, e.g. a *backend.GRPCClient.
	raw any
	// pid is the plugin's process id.
	pid int
	// version is the API version go-plugin negotiated: the highest one in
	// both the host's and the plugin's plugin sets.
	version int
}

// processSpec is what starting one plugin process needs.
type processSpec struct {
	name     string
	kind     pluginKind
	path     string
	checksum []byte
	logger   hclog.Logger
	timeout  time.Duration
	// metrics, when set, time the calls of a backend (metrics.go).
	metrics *Metrics
}

// startProcess verifies the binary's checksum, runs it with the Quantix
// handshake over gRPC with automatic mTLS, and dispenses the plugin type.
func startProcess(spec processSpec) (*process, error) {
	cmd := exec.Command(spec.path)
	cmd.SysProcAttr = sysProcAttr()
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		VersionedPlugins: spec.kind.sets,
		Cmd:              cmd,
		SecureConfig:     secureConfig(spec.checksum),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		GRPCDialOptions:  spec.metrics.dialOptions(spec.kind, spec.name, plugin.GRPCDialOptions()),
		Logger:           spec.logger,
		SyncStdout:       lineWriter(spec.logger),
		SyncStderr:       lineWriter(spec.logger),
		StartTimeout:     spec.timeout,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return nil, checksumMismatch(spec.name, spec.path, spec.checksum)
		}
		return nil, fmt.Errorf("launching plugin %q (%s): %w; check that it is a %s built for this Quantix (make build) and see its log lines above", spec.name, spec.path, err, plugin.BinaryName(spec.kind.typ, spec.name))
	}
	raw, err := rpc.Dispense(string(spec.kind.typ))
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("launching plugin %q (%s): %w; the binary does not serve a %s plugin, check path", spec.name, spec.path, err, spec.kind.typ)
	}
	p := &process{client: client, raw: raw, version: client.NegotiatedVersion()}
	if rc := client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
	return p, nil
}

// kill stops the process: go-plugin first asks it to shut down and waits up
// to two seconds, then kills it; it returns once the process is reaped.
func (p *process) kill() error {
	p.client.Kill()
	if !p.client.Exited() {
		return fmt.Errorf("plugin process %d did not exit; kill it by hand", p.pid)
	}
	return nil
}

// instance is one configured plugin process.
type instance struct {
	proc *process
	// backend is the client of a backend plugin, nil for other types.
	backend *backend.GRPCClient
	// sink is the client of a log sink plugin, nil for other types.
	sink       *logsink.GRPCClient
	info       plugin.Info
	apiVersion int
	started    time.Time
	// dead ends when the process is known to be gone or is being killed;
	// its cause (ErrPluginExited, ErrClosed) says why. Every call's context
	// is bound to it, so nothing waits on a dead plugin.
	dead     context.Context
	markDead context.CancelCauseFunc
}

// launchInstance starts a plugin, checks what it says it is, negotiates the
// API version and configures it.
func launchInstance(ctx context.Context, spec processSpec, settings []byte) (*instance, error) {
	proc, err := startProcess(spec)
	if err != nil {
		return nil, err
	}
	inst, err := setUp(ctx, spec, proc, settings)
	if err != nil {
		_ = proc.kill()
		return nil, err
	}
	return inst, nil
}

func setUp(ctx context.Context, spec processSpec, proc *process, settings []byte) (*instance, error) {
	inst := &instance{proc: proc}
	// What the dispensed client of every plugin type answers.
	var client plugin.Base
	switch c := proc.raw.(type) {
	case *backend.GRPCClient:
		if spec.kind.typ == plugin.TypeBackend {
			inst.backend, client = c, c
		}
	case *logsink.GRPCClient:
		if spec.kind.typ == plugin.TypeLogSink {
			inst.sink, client = c, c
		}
	}
	if client == nil {
		return nil, fmt.Errorf("plugin %q (%s): dispensed %T, not a %s client; rebuild the plugin against this sdk", spec.name, spec.path, proc.raw, spec.kind.typ)
	}
	ctx, cancel := context.WithTimeout(ctx, spec.timeout)
	defer cancel()
	info, err := client.Info(ctx)
	if err != nil {
		if plugin.KindOf(err) == plugin.KindUnsupported {
			return nil, fmt.Errorf("plugin %q (%s): asking for its info: %w; the binary does not serve a %s plugin, point path at a %s binary", spec.name, spec.path, err, spec.kind.typ, plugin.BinaryName(spec.kind.typ, "<name>"))
		}
		return nil, fmt.Errorf("plugin %q (%s): asking for its info: %w", spec.name, spec.path, err)
	}
	version, err := spec.kind.checkInfo(info)
	if err != nil {
		return nil, fmt.Errorf("plugin %q (%s): %w", spec.name, spec.path, err)
	}
	if version != proc.version {
		return nil, fmt.Errorf("plugin %q (%s) announces API versions %v, so version %d, but serves version %d; rebuild the plugin against the current sdk", spec.name, spec.path, info.APIVersions, version, proc.version)
	}
	if err := client.Configure(ctx, settings, version); err != nil {
		return nil, configErrorOf(spec.kind.block, spec.name, err)
	}
	inst.dead, inst.markDead = context.WithCancelCause(context.Background())
	inst.info, inst.apiVersion, inst.started = info, version, time.Now()
	return inst, nil
}

// bind returns ctx cut short when the instance dies.
func (i *instance) bind(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(i.dead, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// kill ends every call in flight with cause, then stops the process.
func (i *instance) kill(cause error) error {
	i.markDead(cause)
	return i.proc.kill()
}

// checkInfo checks what a backend says about itself and returns the API
// version to speak: the highest one both sides know.
func checkInfo(info plugin.Info) (int, error) {
	return backendKind.checkInfo(info)
}
