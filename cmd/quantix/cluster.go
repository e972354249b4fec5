package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/quantixvm/quantix/client"
)

func clusterCommand() *command {
	return &command{
		name:    "cluster",
		summary: "the servers of the control plane and their leader",
		help:    "Several quantixd servers may share one PostgreSQL database; one of them leads.\n",
		subs:    []*command{clusterStatusCommand()},
	}
}

func clusterStatusCommand() *command {
	return &command{
		name:    "status",
		summary: "show the servers, the leader and the nodes each server holds",
		help: `Shows the servers sharing the database (GET /api/cluster): their names,
API and agent addresses, version, last heartbeat and whether they are alive; which
one leads and at which epoch (the count of leaders so far); and the nodes whose
agent each server holds. "*" marks the server that answered. Times are relative to
the database's clock.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				st, err := a.api.ClusterStatus(ctx)
				if err != nil {
					return err
				}
				if a.jsonOutput() {
					return printJSON(a.stdout, st.Raw)
				}
				printClusterStatus(a, st)
				return nil
			}
		},
	}
}

// printClusterStatus writes the leader line and the table of servers.
func printClusterStatus(a *app, st *client.ClusterStatus) {
	if l := st.Leader; l != nil {
		fmt.Fprintf(a.stdout, "Leader: %s (epoch %d, lease expires in %s)\n\n", l.Name, l.Epoch, since(l.ExpiresAt, st.Now))
	} else {
		fmt.Fprintf(a.stdout, "Leader: none (epoch %d): no server holds the lease\n\n", st.Epoch)
	}
	t := newTable(a.stdout, "NAME", "STATE", "ROLE", "API", "AGENT ADDR", "VERSION", "HEARTBEAT", "NODES", "ID")
	for _, s := range st.Servers {
		name := s.Name
		if s.ID == st.Server {
			name += " *"
		}
		state := "dead"
		switch {
		case s.StoppedAt != nil:
			state = "stopped"
		case s.Alive:
			state = "alive"
		}
		role := "follower"
		if s.Leader {
			role = "leader"
		} else if !s.Alive {
			role = "-"
		}
		t.row(name, state, role, dash(s.APIAddr), dash(s.RPCAddr), dash(s.Version), since(st.Now, s.HeartbeatAt)+" ago",
			nodeNames(s.Nodes), s.ID)
	}
	_ = t.flush()
}

// since is the time from b to a, rounded for reading.
func since(a, b time.Time) string {
	d := a.Sub(b)
	if d < 0 {
		d = 0
	}
	switch {
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// nodeNames lists nodes by name: a few, then how many more.
func nodeNames(nodes []client.ClusterNode) string {
	if len(nodes) == 0 {
		return "-"
	}
	const shown = 3
	names := make([]string, 0, shown)
	for i, n := range nodes {
		if i == shown {
			break
		}
		name := n.Name
		if name == "" {
			name = n.ID
		}
		names = append(names, name)
	}
	s := strings.Join(names, ",")
	if len(nodes) > shown {
		s += " +" + strconv.Itoa(len(nodes)-shown)
	}
	return strconv.Itoa(len(nodes)) + " (" + s + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
