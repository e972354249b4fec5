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
	typ      plugin.Type
	path     string
	checksum []byte
	sets     map[int]goplugin.PluginSet
	logger   hclog.Logger
	timeout  time.Duration
}

// startProcess verifies the binary's checksum, runs it with the Quantix
// handshake over gRPC with automatic mTLS, and dispenses the plugin type.
func startProcess(spec processSpec) (*process, error) {
	cmd := exec.Command(spec.path)
	cmd.SysProcAttr = sysProcAttr()
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		VersionedPlugins: spec.sets,
		Cmd:              cmd,
		SecureConfig:     secureConfig(spec.checksum),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		GRPCDialOptions:  plugin.GRPCDialOptions(),
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
		return nil, fmt.Errorf("launching plugin %q (%s): %w; check that it is a %s built for this Quantix (make build) and see its log lines above", spec.name, spec.path, err, plugin.BinaryName(spec.typ, spec.name))
	}
	raw, err := rpc.Dispense(string(spec.typ))
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("launching plugin %q (%s): %w; the binary does not serve a %s plugin, check path", spec.name, spec.path, err, spec.typ)
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

// instance is one configured backend plugin process.
type instance struct {
	proc       *process
	backend    *backend.GRPCClient
	info       plugin.Info
	apiVersion int
	started    time.Time
	// dead ends when the process is known to be gone or is being killed;
	// its cause (ErrPluginExited, ErrClosed) says why. Every call's context
	// is bound to it, so nothing waits on a dead plugin.
	dead     context.Context
	markDead context.CancelCauseFunc
}

// launchBackend starts a backend plugin, checks what it says it is,
// negotiates the API version and configures it.
func launchBackend(ctx context.Context, spec processSpec, settings []byte) (*instance, error) {
	proc, err := startProcess(spec)
	if err != nil {
		return nil, err
	}
	inst, err := setUpBackend(ctx, spec, proc, settings)
	if err != nil {
		_ = proc.kill()
		return nil, err
	}
	return inst, nil
}

func setUpBackend(ctx context.Context, spec processSpec, proc *process, settings []byte) (*instance, error) {
	client, ok := proc.raw.(*backend.GRPCClient)
	if !ok {
		return nil, fmt.Errorf("plugin %q (%s): dispensed %T, not a backend client; rebuild the plugin against this sdk", spec.name, spec.path, proc.raw)
	}
	ctx, cancel := context.WithTimeout(ctx, spec.timeout)
	defer cancel()
	info, err := client.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugin %q (%s): asking for its info: %w", spec.name, spec.path, err)
	}
	version, err := checkInfo(info)
	if err != nil {
		return nil, fmt.Errorf("plugin %q (%s): %w", spec.name, spec.path, err)
	}
	if version != proc.version {
		return nil, fmt.Errorf("plugin %q (%s) announces API versions %v, so version %d, but serves version %d; rebuild the plugin against the current sdk", spec.name, spec.path, info.APIVersions, version, proc.version)
	}
	if err := client.Configure(ctx, settings, version); err != nil {
		return nil, configError(spec.name, err)
	}
	dead, markDead := context.WithCancelCause(context.Background())
	return &instance{
		proc:       proc,
		backend:    client,
		info:       info,
		apiVersion: version,
		started:    time.Now(),
		dead:       dead,
		markDead:   markDead,
	}, nil
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
	if err := info.Validate(); err != nil {
		return 0, fmt.Errorf("%w; rebuild the plugin against the current sdk", err)
	}
	if info.Type != plugin.TypeBackend {
		return 0, fmt.Errorf("it is a %q plugin, not a %q one; point path at a %s binary", info.Type, plugin.TypeBackend, plugin.BinaryName(plugin.TypeBackend, "<name>"))
	}
	return plugin.Negotiate(backend.APIVersions, info.APIVersions)
}
