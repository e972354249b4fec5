package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/quantixvm/quantix/client"
)

func nodeTokenCommand() *command {
	return &command{
		name:    "token",
		summary: "create, list and revoke join tokens for new nodes",
		help: `A join token lets a new node's agent join the cluster once (or -uses times)
before it expires: the agent presents it, with a key it made, and receives its
client certificate. The token also carries the fingerprint of the cluster's
agent CA, so that the agent trusts the right server on first contact. The
server keeps only a hash of the token's secret. Managing tokens takes the
admin role.
`,
		subs: []*command{nodeTokenCreateCommand(), nodeTokenListCommand(), nodeTokenRevokeCommand()},
	}
}

func nodeTokenCreateCommand() *command {
	return &command{
		name:    "create",
		summary: "make a join token",
		help: `Makes a join token (POST /api/join-tokens) and prints it with its expiry and
uses. The token is shown this once: the server keeps only its hash. Give it to
the new node's agent as agent.join_token; the agent uses it on its first start
only, and from then on connects with the certificate it received. -q prints
only the token, for scripts.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			ttl := fs.Duration("ttl", 0, "how long the token lasts, 1m..720h, e.g. 1h (default 24h)")
			uses := fs.Int("uses", 0, "how many agents may join with it, 1..1000 (default 1)")
			desc := fs.String("description", "", "what the token is for, shown in listings")
			quiet := fs.Bool("q", false, "print only the token")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				if *ttl < 0 {
					return usagef("-ttl %s: must be positive", *ttl)
				}
				if *uses < 0 {
					return usagef("-uses %d: must be positive", *uses)
				}
				tok, err := a.api.CreateJoinToken(ctx, client.JoinTokenSpec{TTL: *ttl, Uses: *uses, Description: *desc})
				if err != nil {
					return err
				}
				switch {
				case a.jsonOutput():
					return printJSON(a.stdout, tok.Raw)
				case *quiet:
					fmt.Fprintln(a.stdout, tok.Token)
					return nil
				}
				fmt.Fprintf(a.stdout, "%s\n\n", tok.Token)
				t := newTable(a.stdout)
				kv := func(k, v string) { t.row(k+":", v) }
				kv("ID", tok.ID)
				kv("Expires", when(&tok.ExpiresAt))
				kv("Uses", strconv.Itoa(tok.Uses))
				if tok.Description != "" {
					kv("Description", tok.Description)
				}
				kv("Agent CA", "sha256:"+tok.CAFingerprint)
				if err := t.flush(); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "\nThe token is shown only now. Set it as agent.join_token on the new node.")
				return nil
			}
		},
	}
}

func nodeTokenListCommand() *command {
	return &command{
		name:    "list",
		summary: "list join tokens",
		help: `Lists the join tokens (GET /api/join-tokens), oldest first, with their state:
active while agents may join with them, else revoked, used_up or expired. The
tokens themselves are never shown again.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				list, err := a.api.ListJoinTokens(ctx)
				if err != nil {
					return err
				}
				if a.jsonOutput() {
					return printJSON(a.stdout, rawList(list, func(j *client.JoinToken) json.RawMessage { return j.Raw }))
				}
				if len(list) == 0 {
					fmt.Fprintln(a.stderr, "no join tokens")
					return nil
				}
				t := newTable(a.stdout, "ID", "STATE", "USED", "EXPIRES", "CREATED", "DESCRIPTION")
				for _, j := range list {
					expires := ago(j.ExpiresAt)
					if j.State == "revoked" && j.RevokedAt != nil {
						expires = "-"
					}
					t.row(j.ID, j.State, fmt.Sprintf("%d/%d", j.Used, j.Uses), expires, ago(j.CreatedAt), j.Description)
				}
				return t.flush()
			}
		},
	}
}

func nodeTokenRevokeCommand() *command {
	return &command{
		name:    "revoke",
		args:    "ID",
		summary: "revoke a join token",
		help: `Revokes a join token by its id (DELETE /api/join-tokens/{id}): agents cannot
join with it from now on. Nodes that joined with it keep their certificates;
remove a node with 'quantix node remove' to revoke its certificate. Revoking a
revoked token again is no error.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "ID"); err != nil {
					return err
				}
				if err := a.api.RevokeJoinToken(ctx, args[0]); err != nil {
					return err
				}
				if a.jsonOutput() {
					return printJSON(a.stdout, map[string]any{"id": args[0], "revoked": true, "time": time.Now().UTC()})
				}
				fmt.Fprintf(a.stdout, "join token %s revoked\n", args[0])
				return nil
			}
		},
	}
}
