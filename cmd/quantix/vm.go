package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quantixvm/quantix/client"
)

func vmCommand() *command {
	return &command{
		name:    "vm",
		summary: "list, create, drive and inspect virtual machines",
		help:    "VMs are addressed by name or id.\n",
		subs: []*command{
			vmListCommand(),
			vmShowCommand(),
			vmCreateCommand(),
			vmEditCommand(),
			vmActionCommand("start", "start a stopped or crashed VM",
				"Starts the VM (POST /api/vms/{id}/start) and waits until the host has started it.", nil),
			vmStopCommand(),
			vmActionCommand("reboot", "reboot a running VM",
				"Reboots the VM (POST /api/vms/{id}/reboot).", nil),
			vmActionCommand("pause", "pause a running VM",
				"Pauses the VM's CPUs (POST /api/vms/{id}/pause); resume continues it.", nil),
			vmActionCommand("resume", "resume a paused VM",
				"Resumes a paused VM (POST /api/vms/{id}/resume).", nil),
			vmActionCommand("delete", "delete a VM and the disks it owns", `Deletes the VM and the disks it owns (DELETE /api/vms/{id}). The API refuses a
VM that is running unless -force is given; a deleted VM stays listed with
-state TERMINATED and can still be shown by id.`, forceFlag("delete a running VM too, stopping it hard first")),
			vmActionCommand("reset-state", "get a VM out of a stuck state", `Asks the host for the VM's real state and records it
(POST /api/vms/{id}/reset_state); a VM the host does not have becomes STOPPED.
With -force the VM is set STOPPED without asking the host (for a node that
cannot be reached).`, forceFlag("set STOPPED without asking the host")),
			vmActionCommand("adopt", "make a host-discovered VM managed",
				`Takes over a VM found on a host that Quantix did not create
(POST /api/vms/{id}/adopt): its origin becomes imported and it can be driven
like any other.`, nil),
			vmLogsCommand(),
			vmEventsCommand(),
			vmConsoleCommand(),
		},
	}
}

// listFlag is a flag that may be given many times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// labelFlag collects key=value labels.
type labelFlag map[string]string

func (l labelFlag) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k+"="+l[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (l labelFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", v)
	}
	l[k] = val
	return nil
}

// diskFlag collects disks given by their size in GiB.
type diskFlag []client.DiskRequest

func (d *diskFlag) String() string { return "" }

func (d *diskFlag) Set(v string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.ToUpper(v), "G")), 10, 64)
	if err != nil || n == 0 {
		return fmt.Errorf("%q is not a size in GiB such as 10", v)
	}
	*d = append(*d, client.DiskRequest{SizeGiB: n})
	return nil
}

// nicFlag collects network interfaces: "NAME" or "network:NAME" (a libvirt
// network), "bridge:NAME" or "user".
type nicFlag []client.NIC

func (n *nicFlag) String() string { return "" }

func (n *nicFlag) Set(v string) error {
	typ, src, ok := strings.Cut(v, ":")
	switch {
	case v == "user":
		*n = append(*n, client.NIC{Type: "user"})
	case !ok && v != "":
		*n = append(*n, client.NIC{Type: "network", Source: v})
	case ok && (typ == "network" || typ == "bridge") && src != "":
		*n = append(*n, client.NIC{Type: typ, Source: src})
	default:
		return fmt.Errorf("%q is not NETWORK, network:NAME, bridge:NAME or user", v)
	}
	return nil
}

// nodeNames maps node ids to names, for tables; when the nodes cannot be
// listed, tables show ids.
func (a *app) nodeNames(ctx context.Context) map[string]string {
	out := map[string]string{}
	nodes, err := a.api.ListNodes(ctx)
	if err != nil {
		return out
	}
	for _, n := range nodes {
		out[n.ID] = n.Name
	}
	return out
}

func nodeLabel(names map[string]string, id string) string {
	if id == "" {
		return "-"
	}
	if n, ok := names[id]; ok && n != "" {
		return n
	}
	return id
}

// stateLabel is a VM's state; an UNKNOWN VM shows what was last seen.
func stateLabel(v *client.VM) string {
	if v.State == "UNKNOWN" && v.LastKnownState != "" && v.LastKnownState != "UNKNOWN" {
		return "UNKNOWN (last " + v.LastKnownState + ")"
	}
	return v.State
}

func vmListCommand() *command {
	return &command{
		name:    "list",
		summary: "list VMs",
		help: `Lists the VMs, oldest first, following the API's pages (GET /api/vms).
Deleted (TERMINATED) VMs show only with -state TERMINATED.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			state := fs.String("state", "", "only VMs in `state`, e.g. RUNNING")
			node := fs.String("node", "", "only VMs on `node` (name or id)")
			origin := fs.String("origin", "", "only VMs of `origin`: control-plane, host-discovered or imported")
			var labels listFlag
			fs.Var(&labels, "label", "only VMs with the label `key=value` (repeatable; all must match)")
			quiet := fs.Bool("q", false, "print only the names, one a line")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				for _, l := range labels {
					if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
						return usagef("-label %q: want key=value", l)
					}
				}
				opts := client.ListVMsOptions{State: *state, Origin: *origin, Labels: labels, Limit: 1000}
				if *node != "" {
					n, err := a.api.GetNode(ctx, *node)
					if err != nil {
						return err
					}
					opts.NodeID = n.ID
				}
				vms, err := a.api.AllVMs(ctx, opts)
				if err != nil {
					return err
				}
				switch {
				case a.jsonOutput():
					return printJSON(a.stdout, rawList(vms, func(v *client.VM) json.RawMessage { return v.Raw }))
				case *quiet:
					for _, v := range vms {
						fmt.Fprintln(a.stdout, v.Name)
					}
					return nil
				}
				if len(vms) == 0 {
					fmt.Fprintln(a.stderr, "no vms")
					return nil
				}
				names := a.nodeNames(ctx)
				t := newTable(a.stdout, "NAME", "STATE", "NODE", "VCPUS", "MEMORY", "ORIGIN", "CREATED", "ID")
				for i := range vms {
					v := &vms[i]
					t.row(v.Name, stateLabel(v), nodeLabel(names, v.NodeID), strconv.FormatUint(uint64(v.Spec.VCPUs), 10),
						mib(v.Spec.MemoryMiB), v.Origin, ago(v.CreatedAt), v.ID)
				}
				return t.flush()
			}
		},
	}
}

func vmShowCommand() *command {
	return &command{
		name:     "show",
		args:     "NAME",
		summary:  "show one VM",
		help:     "Shows a VM by name or id (GET /api/vms/{id}): its state, spec and status.",
		complete: "vm",
		setup: func(a *app, fs *flag.FlagSet) runner {
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				v, err := a.api.GetVM(ctx, args[0])
				if err != nil {
					return err
				}
				if a.jsonOutput() {
					return printJSON(a.stdout, v.Raw)
				}
				return a.showVM(ctx, v)
			}
		},
	}
}

// showVM writes a VM as aligned "key: value" lines.
func (a *app) showVM(ctx context.Context, v *client.VM) error {
	names := a.nodeNames(ctx)
	t := newTable(a.stdout)
	kv := func(k, v string) { t.row(k+":", v) }
	kv("Name", v.Name)
	kv("ID", v.ID)
	kv("State", stateLabel(v))
	kv("Desired state", v.DesiredState)
	kv("Restart policy", v.RestartPolicy)
	kv("Node", nodeLabel(names, v.NodeID))
	kv("Origin", v.Origin)
	kv("Managed", yesNo(v.IsManaged))
	if v.Description != "" {
		kv("Description", v.Description)
	}
	kv("vCPUs", strconv.FormatUint(uint64(v.Spec.VCPUs), 10))
	kv("Memory", mib(v.Spec.MemoryMiB))
	if len(v.Spec.Disks) == 0 {
		kv("Disks", "none")
	}
	for i, d := range v.Spec.Disks {
		desc := []string{}
		if d.Name != "" {
			desc = append(desc, d.Name)
		}
		if d.SizeGiB > 0 {
			desc = append(desc, fmt.Sprintf("%d GiB", d.SizeGiB))
		}
		if d.BaseImage != "" {
			desc = append(desc, "over "+d.BaseImage)
		}
		bus := d.Bus
		if bus == "" {
			bus = "virtio"
		}
		desc = append(desc, bus)
		if d.Path != "" {
			desc = append(desc, d.Path)
		}
		kv(fmt.Sprintf("Disk %d", i), strings.Join(desc, ", "))
	}
	if len(v.Spec.NICs) == 0 {
		kv("NICs", "none")
	}
	for i, n := range v.Spec.NICs {
		desc := n.Type
		if n.Source != "" {
			desc += " " + n.Source
		}
		if n.Model != "" {
			desc += ", " + n.Model
		}
		if n.MAC != "" {
			desc += ", " + n.MAC
		}
		kv(fmt.Sprintf("NIC %d", i), desc)
	}
	if len(v.Spec.Boot) > 0 {
		kv("Boot", strings.Join(v.Spec.Boot, ", "))
	}
	if v.Spec.Kernel != "" {
		kv("Kernel", v.Spec.Kernel)
		if v.Spec.Initrd != "" {
			kv("Initrd", v.Spec.Initrd)
		}
		if v.Spec.Cmdline != "" {
			kv("Cmdline", v.Spec.Cmdline)
		}
	}
	if len(v.Labels) > 0 {
		keys := make([]string, 0, len(v.Labels))
		for k := range v.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + v.Labels[k]
		}
		kv("Labels", strings.Join(pairs, ", "))
	}
	if v.Message != "" {
		kv("Message", v.Message)
	}
	if v.LostReason != "" || v.LostAt != nil {
		kv("Lost", fmt.Sprintf("%s, %s", when(v.LostAt), v.LostReason))
	}
	kv("Last seen", when(v.LastSeen))
	kv("Created", when(&v.CreatedAt))
	kv("Updated", when(&v.UpdatedAt))
	return t.flush()
}

func vmCreateCommand() *command {
	return &command{
		name:    "create",
		args:    "NAME",
		summary: "create a VM",
		help: `Creates a VM (POST /api/vms); it is STOPPED once created: start it with
'quantix vm start NAME'. Without -disk the VM has no disk (it boots into its
firmware); without -nic it has no network interface. With -kernel the VM
boots that Linux kernel directly (direct kernel boot), with -initrd as its
initial ramdisk and -cmdline as its command line: both paths are absolute
paths on the VM's node, readable by the hypervisor.

examples:
  quantix vm create web-1 -vcpus 2 -memory 2048 -disk 20 -nic default
  quantix vm create db-1 -disk 40 -disk 100 -nic bridge:br0 -restart-policy always
  quantix vm create guest-1 -memory 256 -kernel /srv/guest/vmlinuz \
      -initrd /srv/guest/initrd.img -cmdline 'console=ttyS0 quiet'`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			vcpus := fs.Int64("vcpus", 1, "`N` virtual CPUs")
			memory := fs.Int64("memory", 512, "memory in `MiB`")
			var disks diskFlag
			fs.Var(&disks, "disk", "add a new disk of `SIZE_GIB` GiB (repeatable)")
			var nics nicFlag
			fs.Var(&nics, "nic", "add a network interface on `NET`: a libvirt network name, network:NAME, bridge:NAME or user (repeatable)")
			policy := fs.String("restart-policy", "", "`policy` when the VM stops on its own: never (the default), on-crash or always")
			desc := fs.String("description", "", "free `text` describing the VM")
			labels := labelFlag{}
			fs.Var(labels, "label", "set the label `key=value` (repeatable)")
			var boot listFlag
			fs.Var(&boot, "boot", "boot `device`: hd, cdrom or network (repeatable, in order)")
			node := fs.String("node", "", "create the VM on `node` (name or id); default: the server picks")
			kernel := fs.String("kernel", "", "boot the Linux kernel at `PATH` on the node directly (absolute path)")
			initrd := fs.String("initrd", "", "initial ramdisk at `PATH` on the node for -kernel (absolute path)")
			cmdline := fs.String("cmdline", "", "kernel command `line` for -kernel, e.g. 'console=ttyS0 quiet'")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				req := client.CreateVMRequest{
					Name: args[0], Description: *desc, VCPUs: *vcpus, MemoryMiB: *memory,
					Disks: disks, NICs: nics, Boot: boot, RestartPolicy: *policy,
					Kernel: *kernel, Initrd: *initrd, Cmdline: *cmdline,
				}
				if len(labels) > 0 {
					req.Labels = labels
				}
				if *node != "" {
					n, err := a.api.GetNode(ctx, *node)
					if err != nil {
						return err
					}
					req.NodeID = n.ID
				}
				v, err := a.api.CreateVM(ctx, req)
				if err != nil {
					return err
				}
				if a.jsonOutput() {
					return printJSON(a.stdout, v.Raw)
				}
				fmt.Fprintf(a.stdout, "created vm %s (%s) on node %s: %s\n", v.Name, v.ID, nodeLabel(a.nodeNames(ctx), v.NodeID), stateLabel(v))
				return nil
			}
		},
	}
}

func vmEditCommand() *command {
	return &command{
		name:    "edit",
		args:    "NAME",
		summary: "change a VM's direct kernel boot",
		help: `Changes the VM's -kernel, -initrd and -cmdline (PATCH /api/vms/{id}), checked
as at create; flags not given stay as they are, an empty value clears the
field. The VM must be stopped (STOPPED, CRASHED or ERROR). Clearing -kernel
while the VM keeps an initrd or a command line is refused: clear them too.

examples:
  quantix vm edit guest-1 -cmdline 'console=ttyS0 quiet loglevel=7'
  quantix vm edit guest-1 -kernel /srv/guest/vmlinuz-6.1 -initrd /srv/guest/initrd-6.1.img
  quantix vm edit guest-1 -kernel '' -initrd '' -cmdline ''`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			kernel := fs.String("kernel", "", "boot the Linux kernel at `PATH` on the node directly (absolute path; empty clears)")
			initrd := fs.String("initrd", "", "initial ramdisk at `PATH` on the node for the kernel (absolute path; empty clears)")
			cmdline := fs.String("cmdline", "", "kernel command `line` (empty clears)")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				var req client.PatchVMRequest
				var changed []string
				fs.Visit(func(f *flag.Flag) {
					switch f.Name {
					case "kernel":
						req.Kernel = kernel
					case "initrd":
						req.Initrd = initrd
					case "cmdline":
						req.Cmdline = cmdline
					default:
						return
					}
					changed = append(changed, f.Name)
				})
				if len(changed) == 0 {
					return usagef("nothing to change: give -kernel, -initrd or -cmdline")
				}
				v, err := a.api.PatchVM(ctx, args[0], req)
				if err != nil {
					return err
				}
				if a.jsonOutput() {
					return printJSON(a.stdout, v.Raw)
				}
				fmt.Fprintf(a.stdout, "vm %s updated (%s)\n", v.Name, strings.Join(changed, ", "))
				return nil
			}
		},
	}
}

// forceFlag adds -force to an action.
func forceFlag(usage string) func(fs *flag.FlagSet) func() bool {
	return func(fs *flag.FlagSet) func() bool {
		f := fs.Bool("force", false, usage)
		return func() bool { return *f }
	}
}

// doAction runs the action command name on a VM.
func (a *app) doAction(ctx context.Context, name, ref string, force bool) (*client.ActionResult, error) {
	switch name {
	case "start":
		return a.api.StartVM(ctx, ref)
	case "reboot":
		return a.api.RebootVM(ctx, ref)
	case "pause":
		return a.api.PauseVM(ctx, ref)
	case "resume":
		return a.api.ResumeVM(ctx, ref)
	case "adopt":
		return a.api.AdoptVM(ctx, ref)
	case "delete":
		return a.api.DeleteVM(ctx, ref, force)
	case "reset-state":
		return a.api.ResetState(ctx, ref, force)
	}
	return nil, fmt.Errorf("no action %q", name)
}

func vmActionCommand(name, summary, help string, force func(fs *flag.FlagSet) func() bool) *command {
	return &command{
		name:     name,
		args:     "NAME",
		summary:  summary,
		help:     help + "\nPrints the API's message and the VM's state afterwards.",
		complete: "vm",
		setup: func(a *app, fs *flag.FlagSet) runner {
			forced := func() bool { return false }
			if force != nil {
				forced = force(fs)
			}
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				res, err := a.doAction(ctx, name, args[0], forced())
				if err != nil {
					return err
				}
				return a.printAction(args[0], res)
			}
		},
	}
}

func vmStopCommand() *command {
	return &command{
		name:    "stop",
		args:    "NAME",
		summary: "stop a VM",
		help: `Stops the VM (POST /api/vms/{id}/stop): asks the guest to shut down and, when
-timeout passes first, stops it hard. With -force it is stopped hard at once.
Prints the API's message and the VM's state afterwards.`,
		complete: "vm",
		setup: func(a *app, fs *flag.FlagSet) runner {
			force := fs.Bool("force", false, "stop at once, as pulling the plug")
			timeout := fs.Duration("timeout", 0, "how long the guest may take to shut down, e.g. 30s (default: the server's)")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				if *timeout < 0 {
					return usagef("-timeout %s: must be positive", *timeout)
				}
				res, err := a.api.StopVM(ctx, args[0], client.StopOptions{Force: *force, Timeout: *timeout})
				if err != nil {
					return err
				}
				return a.printAction(args[0], res)
			}
		},
	}
}

// printAction writes the reply of an action.
func (a *app) printAction(ref string, res *client.ActionResult) error {
	if a.jsonOutput() {
		return printJSON(a.stdout, res.Raw)
	}
	name, state := ref, ""
	if res.VM != nil {
		name, state = res.VM.Name, stateLabel(res.VM)
	}
	msg := res.Message
	if msg == "" {
		msg = "done"
	}
	if state != "" {
		fmt.Fprintf(a.stdout, "%s: %s (%s)\n", name, msg, state)
	} else {
		fmt.Fprintf(a.stdout, "%s: %s\n", name, msg)
	}
	return nil
}

func vmLogsCommand() *command {
	return &command{
		name:    "logs",
		args:    "NAME",
		summary: "show the end of a VM's QEMU log",
		help: `Prints the last lines of the VM's QEMU log (GET /api/vms/{id}/logs), read from
its node. With -f, then follows the VM's QEMU log lines that arrive in the log
pipeline (GET /api/logs/stream?source=qemu&vm_id=...) until Ctrl-C.
With -output json, prints the API's reply, and with -f each followed entry as
one JSON line.`,
		complete: "vm",
		setup: func(a *app, fs *flag.FlagSet) runner {
			n := fs.Int("n", 100, "how many `lines` (1..10000)")
			follow := fs.Bool("f", false, "follow new lines until Ctrl-C")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				if *n < 1 || *n > 10000 {
					return usagef("-n %d: must be between 1 and 10000", *n)
				}
				a.following = *follow
				// Following, the stream opens before the tail is read, so
				// that no line falls between them; the lines of the tail it
				// carries too are skipped (tailSkipper).
				var stream *client.LogStream
				if *follow {
					v, err := a.api.GetVM(ctx, args[0])
					if err != nil {
						return err
					}
					if stream, err = a.api.StreamLogs(ctx, client.LogFilter{Sources: []string{"qemu"}, VMID: v.ID}); err != nil {
						return err
					}
					defer stream.Close()
				}
				tail, err := a.api.VMLogs(ctx, args[0], *n)
				if err != nil {
					return err
				}
				if a.jsonOutput() {
					if *follow {
						err = printJSONLine(a.stdout, tail.Raw)
					} else {
						err = printJSON(a.stdout, tail.Raw)
					}
					if err != nil {
						return err
					}
				} else {
					if len(tail.Lines) == 0 {
						fmt.Fprintf(a.stderr, "vm %s has no QEMU log yet (%s)\n", tail.VMName, tail.LogPath)
					}
					for _, l := range tail.Lines {
						fmt.Fprintln(a.stdout, l.Text)
					}
				}
				if !*follow {
					return nil
				}
				skip := tailSkipper(tail.LogSizeBytes)
				return a.readLogStream(ctx, stream, nil, func(e *client.LogEntry) error {
					if skip(e) {
						return nil
					}
					if a.jsonOutput() {
						return printJSONLine(a.stdout, e.Raw)
					}
					_, err := fmt.Fprintln(a.stdout, e.Message)
					return err
				})
			}
		},
	}
}

// tailSkipper tells which QEMU log entries of a stream opened before a
// tail of size bytes was read are lines of that tail: those at offsets
// (fields.offset, past the line) up to size, in a row from the start of
// the stream. The first entry past size, or one whose offset goes back
// (the log was rotated), ends the skipping.
func tailSkipper(size int64) func(*client.LogEntry) bool {
	skipping, prev := true, int64(0)
	return func(e *client.LogEntry) bool {
		if !skipping {
			return false
		}
		var f struct {
			Offset *int64 `json:"offset"`
		}
		if json.Unmarshal(e.Fields, &f) != nil || f.Offset == nil || *f.Offset > size || *f.Offset < prev {
			skipping = false
			return false
		}
		prev = *f.Offset
		return true
	}
}

func vmEventsCommand() *command {
	return &command{
		name:    "events",
		args:    "NAME",
		summary: "show a VM's history of state changes and actions",
		help: `Prints the VM's history, oldest first (GET /api/vms/{id}/events): when, what
action, the state before and after, who caused it (api, host or reconciler) and
the message. With -f, then follows the VM's new events on the server's event
stream (GET /api/events) until Ctrl-C; followed lines show clock times.
With -output json, prints the API's events as a JSON array, or with -f one JSON
object a line (history first, then the stream's events).`,
		complete: "vm",
		setup: func(a *app, fs *flag.FlagSet) runner {
			follow := fs.Bool("f", false, "follow new events until Ctrl-C")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				a.following = *follow
				// Following, the stream opens before the history is read,
				// so that no event falls between them; the stream's events
				// the history holds are skipped (readVMEvents).
				var stream *client.EventStream
				if *follow {
					var err error
					if stream, err = a.api.Events(ctx, ""); err != nil {
						return err
					}
					defer func() { _ = stream.Close() }()
				}
				page, err := a.api.AllVMEvents(ctx, args[0])
				if err != nil {
					return err
				}
				if !*follow {
					if a.jsonOutput() {
						return printJSON(a.stdout, rawList(page.Events, func(e *client.Event) json.RawMessage { return e.Raw }))
					}
					t := newTable(a.stdout, "TIME", "ACTION", "FROM", "TO", "CAUSE", "MESSAGE")
					for _, e := range page.Events {
						t.row(ago(e.Time), e.Action, e.OldState, e.NewState, e.Cause, e.Message)
					}
					return t.flush()
				}
				var last int64
				for _, e := range page.Events {
					if a.jsonOutput() {
						err = printJSONLine(a.stdout, e.Raw)
					} else {
						err = eventLine(a.stdout, e.Time, e.Action, e.OldState, e.NewState, e.Cause, e.Message)
					}
					if err != nil {
						return err
					}
					last = max(last, e.ID)
				}
				return a.followVMEvents(ctx, stream, page.VMID, last)
			}
		},
	}
}

// eventLine writes one event in fixed columns, as follow mode does.
func eventLine(w io.Writer, t time.Time, action, from, to, cause, msg string) error {
	_, err := fmt.Fprintf(w, "%-19s  %-12s  %-10s  %-10s  %-10s  %s\n", stamp(t), cell(action), cell(from), cell(to), cell(cause), cellReplacer.Replace(msg))
	return err
}

// followVMEvents prints the events of VM vmID on stream es (opened before
// the VM's history was read) that come after its history event last, until
// ctx ends (a clean end: nil). When the server says it dropped events for
// this client, the stream is reopened where they start.
func (a *app) followVMEvents(ctx context.Context, es *client.EventStream, vmID string, last int64) error {
	since := ""
	for {
		var err error
		if es == nil {
			if es, err = a.api.Events(ctx, since); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		since, last, err = a.readVMEvents(es, vmID, since, last)
		_ = es.Close()
		es = nil
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// readVMEvents prints VM vmID's events from es until the stream ends, or
// until a gap says the stream must be reopened: it then returns where.
func (a *app) readVMEvents(es *client.EventStream, vmID, since string, last int64) (string, int64, error) {
	for {
		ev, err := es.Next()
		if errors.Is(err, io.EOF) {
			return since, last, errors.New("the server ended the event stream")
		}
		if err != nil {
			return since, last, err
		}
		switch {
		case ev.Kind == client.KindGap:
			if ev.Gap.Dropped > 0 && ev.Gap.ResumeSince != "" {
				fmt.Fprintf(a.stderr, "quantix: the server dropped %d events for this client; fetching them again\n", ev.Gap.Dropped)
				return ev.Gap.ResumeSince, last, nil
			}
			continue
		case ev.ID != "":
			since = ev.ID
		}
		if ev.Kind != client.KindVM || ev.VM.VMID != vmID {
			continue
		}
		if ev.VM.EventID != 0 && ev.VM.EventID <= last {
			continue
		}
		last = max(last, ev.VM.EventID)
		if a.jsonOutput() {
			err = printJSONLine(a.stdout, ev.Data)
		} else {
			e := ev.VM
			err = eventLine(a.stdout, e.Time, e.Action, e.OldState, e.NewState, e.Cause, e.Message)
		}
		if err != nil {
			return since, last, err
		}
	}
}
