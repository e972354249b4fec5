package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"

	"github.com/quantixvm/quantix/client"
)

func nodeCommand() *command {
	return &command{
		name:    "node",
		summary: "list, show and remove nodes; join tokens for new ones",
		help:    "Nodes are the hosts agents serve; they are addressed by name or id.\n",
		subs:    []*command{nodeListCommand(), nodeShowCommand(), nodeRemoveCommand(), nodeTokenCommand()},
	}
}

// backendLabel describes a node's backend and its health.
func backendLabel(b client.Backend) string {
	s := b.Name
	if b.Version != "" {
		s += " " + b.Version
	}
	if s == "" {
		s = "-"
	}
	if !b.Healthy {
		s += " (unhealthy)"
	}
	return s
}

func nodeListCommand() *command {
	return &command{
		name:    "list",
		summary: "list nodes",
		help: `Lists the nodes (GET /api/nodes, following its pages) in name order: READY while
an agent serves them, UNREACHABLE after missed heartbeats.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			quiet := fs.Bool("q", false, "print only the names, one a line")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				nodes, err := a.api.ListNodes(ctx)
				if err != nil {
					return err
				}
				switch {
				case a.jsonOutput():
					return printJSON(a.stdout, rawList(nodes, func(n *client.Node) json.RawMessage { return n.Raw }))
				case *quiet:
					for _, n := range nodes {
						fmt.Fprintln(a.stdout, n.Name)
					}
					return nil
				}
				if len(nodes) == 0 {
					fmt.Fprintln(a.stderr, "no nodes")
					return nil
				}
				t := newTable(a.stdout, "NAME", "STATE", "VMS", "CPUS", "MEMORY", "HYPERVISOR", "BACKEND", "HEARTBEAT", "ID")
				for _, n := range nodes {
					hv := n.Host.Hypervisor
					if n.Host.HypervisorVersion != "" {
						hv += " " + n.Host.HypervisorVersion
					}
					t.row(n.Name, n.State, strconv.Itoa(n.VMCount), strconv.Itoa(n.Host.CPUs), mib(n.Host.MemoryMiB), hv,
						backendLabel(n.Backend), agoPtr(n.LastHeartbeat), n.ID)
				}
				return t.flush()
			}
		},
	}
}

func nodeShowCommand() *command {
	return &command{
		name:     "show",
		args:     "NAME",
		summary:  "show one node",
		help:     "Shows a node by name or id (GET /api/nodes/{id}): its state, host and backend.",
		complete: "node",
		setup: func(a *app, fs *flag.FlagSet) runner {
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				n, err := a.api.GetNode(ctx, args[0])
				if err != nil {
					return err
				}
				if a.jsonOutput() {
					return printJSON(a.stdout, n.Raw)
				}
				t := newTable(a.stdout)
				kv := func(k, v string) { t.row(k+":", v) }
				kv("Name", n.Name)
				kv("ID", n.ID)
				kv("State", n.State)
				kv("Connected", yesNo(n.Connected))
				kv("Address", n.Address)
				if n.ClaimedAddress != "" && n.ClaimedAddress != n.Address {
					kv("Claimed address", n.ClaimedAddress)
				}
				kv("Last heartbeat", when(n.LastHeartbeat))
				kv("VMs", strconv.Itoa(n.VMCount))
				kv("Hostname", n.Host.Hostname)
				kv("CPUs", strconv.Itoa(n.Host.CPUs))
				kv("Memory", mib(n.Host.MemoryMiB))
				kv("Arch", n.Host.Arch)
				kv("Hypervisor", n.Host.Hypervisor+" "+n.Host.HypervisorVersion)
				kv("KVM", yesNo(n.Host.KVMUsable))
				kv("Backend", backendLabel(n.Backend))
				if n.Backend.Error != "" {
					kv("Backend error", n.Backend.Error)
				}
				kv("Registered", when(&n.CreatedAt))
				kv("Updated", when(&n.UpdatedAt))
				return t.flush()
			}
		},
	}
}

func nodeRemoveCommand() *command {
	return &command{
		name:    "remove",
		args:    "NAME",
		summary: "remove a node from the inventory",
		help: `Removes a node by name or id (DELETE /api/nodes/{id}): revokes the node's
certificates, ends its agent's session at once and removes the node from the
inventory. The agent cannot join again unless it enrolls anew with a join
token ('quantix node token create'), so a connected agent needs no -force.
The API refuses a node that holds VMs unless -force is given, which removes
the records of the node's unmanaged VMs with it. A node holding managed VMs
is refused even with -force: delete them first.`,
		complete: "node",
		setup: func(a *app, fs *flag.FlagSet) runner {
			force := fs.Bool("force", false, "remove the node's unmanaged VM records too")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				res, err := a.api.RemoveNode(ctx, args[0], *force)
				if err != nil {
					return err
				}
				if a.jsonOutput() {
					return printJSON(a.stdout, res.Raw)
				}
				fmt.Fprintln(a.stdout, res.Message)
				return nil
			}
		},
	}
}
