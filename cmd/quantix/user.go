package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"time"

	"github.com/quantixvm/quantix/client"
)

// roles are the roles a user or token may have.
var roles = []string{"admin", "operator", "viewer"}

func checkRole(flagName, role string) error {
	if !slices.Contains(roles, role) {
		return usagef("%s %q: must be admin, operator or viewer", flagName, role)
	}
	return nil
}

func userCommand() *command {
	return &command{
		name:    "user",
		summary: "manage user accounts (admin)",
		help: `Users log in with a name and a password and have one role: admin (everything,
users, tokens and nodes included), operator (VMs, actions, logs) or viewer
(reading only). Managing users needs the admin role.
`,
		subs: []*command{userListCommand(), userCreateCommand(), userSetRoleCommand(), userPasswdCommand(), userDeleteCommand()},
	}
}

func userListCommand() *command {
	return &command{
		name:    "list",
		summary: "list users",
		help:    "Lists the users (GET /api/users) with their role.",
		setup: func(a *app, fs *flag.FlagSet) runner {
			quiet := fs.Bool("q", false, "print only the names, one a line")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				users, err := a.api.ListUsers(ctx)
				if err != nil {
					return err
				}
				switch {
				case a.jsonOutput():
					return printJSON(a.stdout, rawList(users, func(u *client.User) json.RawMessage { return u.Raw }))
				case *quiet:
					for _, u := range users {
						fmt.Fprintln(a.stdout, u.Name)
					}
					return nil
				}
				if len(users) == 0 {
					fmt.Fprintln(a.stderr, "no users")
					return nil
				}
				t := newTable(a.stdout, "NAME", "ROLE", "CREATED", "UPDATED", "ID")
				for _, u := range users {
					t.row(u.Name, u.Role, ago(u.CreatedAt), ago(u.UpdatedAt), u.ID)
				}
				return t.flush()
			}
		},
	}
}

// printUser prints a user a command changed.
func (a *app) printUser(u *client.User, verb string) error {
	if a.jsonOutput() {
		return printJSON(a.stdout, u.Raw)
	}
	fmt.Fprintf(a.stdout, "user %s %s (role %s)\n", u.Name, verb, u.Role)
	return nil
}

func userCreateCommand() *command {
	return &command{
		name:    "create",
		args:    "NAME",
		summary: "create a user",
		help: `Creates a user (POST /api/users) with the role of -role. The password is typed
twice without echo, or read from the first line of stdin with -password-stdin or
when stdin is not a terminal. The server says what a password must be.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			role := fs.String("role", "viewer", "`role` of the user: admin, operator or viewer")
			pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				if err := checkRole("-role", *role); err != nil {
					return err
				}
				pw, err := a.readPassword(*pwStdin, true, "Password for "+args[0]+": ")
				if err != nil {
					return err
				}
				u, err := a.api.CreateUser(ctx, args[0], pw, *role)
				if err != nil {
					return err
				}
				return a.printUser(u, "created")
			}
		},
	}
}

func userSetRoleCommand() *command {
	return &command{
		name:     "set-role",
		args:     "NAME ROLE",
		summary:  "change the role of a user",
		help:     "Changes a user's role (PATCH /api/users/{name}): admin, operator or viewer. The server\nrefuses to leave no admin.",
		complete: "user",
		setup: func(a *app, fs *flag.FlagSet) runner {
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME", "ROLE"); err != nil {
					return err
				}
				if err := checkRole("ROLE", args[1]); err != nil {
					return err
				}
				u, err := a.api.UpdateUser(ctx, args[0], client.UserUpdate{Role: &args[1]})
				if err != nil {
					return err
				}
				return a.printUser(u, "updated")
			}
		},
	}
}

func userPasswdCommand() *command {
	return &command{
		name:    "passwd",
		args:    "NAME",
		summary: "set the password of a user",
		help: `Sets a user's password (PATCH /api/users/{name}); the user's browser sessions
end. The password is typed twice without echo, or read from the first line of
stdin with -password-stdin or when stdin is not a terminal.`,
		complete: "user",
		setup: func(a *app, fs *flag.FlagSet) runner {
			pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				pw, err := a.readPassword(*pwStdin, true, "New password for "+args[0]+": ")
				if err != nil {
					return err
				}
				u, err := a.api.UpdateUser(ctx, args[0], client.UserUpdate{Password: &pw})
				if err != nil {
					return err
				}
				return a.printUser(u, "has a new password")
			}
		},
	}
}

func userDeleteCommand() *command {
	return &command{
		name:     "delete",
		args:     "NAME",
		summary:  "delete a user",
		help:     "Deletes a user (DELETE /api/users/{name}); its tokens and sessions stop working at\nonce. The server refuses to delete the last admin.",
		complete: "user",
		setup: func(a *app, fs *flag.FlagSet) runner {
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				if err := a.api.DeleteUser(ctx, args[0]); err != nil {
					return err
				}
				if a.jsonOutput() {
					return printJSON(a.stdout, map[string]any{"deleted": args[0]})
				}
				fmt.Fprintf(a.stdout, "user %s deleted\n", args[0])
				return nil
			}
		},
	}
}

func tokenCommand() *command {
	return &command{
		name:    "token",
		summary: "manage API tokens (admin)",
		help: `API tokens are sent as "Authorization: Bearer <token>" (quantix -token, QUANTIX_TOKEN,
curl -H). Each has a role no higher than its creator's, an optional expiry, and
is shown once, when created; the server keeps only its hash.
`,
		subs: []*command{tokenListCommand(), tokenCreateCommand(), tokenRevokeCommand()},
	}
}

func tokenListCommand() *command {
	return &command{
		name:    "list",
		summary: "list API tokens",
		help:    "Lists the API tokens (GET /api/tokens): never their secrets, only the prefix they start\nwith (qx_<prefix>_...).",
		setup: func(a *app, fs *flag.FlagSet) runner {
			quiet := fs.Bool("q", false, "print only the ids, one a line")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				toks, err := a.api.ListTokens(ctx)
				if err != nil {
					return err
				}
				switch {
				case a.jsonOutput():
					return printJSON(a.stdout, rawList(toks, func(t *client.Token) json.RawMessage { return t.Raw }))
				case *quiet:
					for _, t := range toks {
						fmt.Fprintln(a.stdout, t.ID)
					}
					return nil
				}
				if len(toks) == 0 {
					fmt.Fprintln(a.stderr, "no tokens")
					return nil
				}
				t := newTable(a.stdout, "ID", "NAME", "USER", "ROLE", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "STATE")
				for _, tk := range toks {
					state := "active"
					switch {
					case tk.RevokedAt != nil:
						state = "revoked " + ago(*tk.RevokedAt)
					case tk.ExpiresAt != nil && !now().Before(*tk.ExpiresAt):
						state = "expired"
					}
					expires := "never"
					if tk.ExpiresAt != nil {
						expires = ago(*tk.ExpiresAt)
					}
					t.row(tk.ID, tk.Name, tk.User, tk.Role, "qx_"+tk.Prefix+"_", ago(tk.CreatedAt), expires, agoPtr(tk.LastUsedAt), state)
				}
				return t.flush()
			}
		},
	}
}

func tokenCreateCommand() *command {
	return &command{
		name:    "create",
		args:    "NAME",
		summary: "create an API token",
		help: `Creates an API token (POST /api/tokens) and prints it alone on stdout, so that
TOKEN=$(quantix token create ci) keeps it; it is shown this once. -role is at
most your own role (default: your role); -ttl makes it expire (default: never).
With -output json, prints the token object with its secret as "token".`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			role := fs.String("role", "", "`role` of the token: admin, operator or viewer (default: yours)")
			ttl := fs.Duration("ttl", 0, "the token expires after this `duration`, e.g. 720h (default: never)")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				if *role != "" {
					if err := checkRole("-role", *role); err != nil {
						return err
					}
				}
				if *ttl < 0 {
					return usagef("-ttl %s: must not be negative", *ttl)
				}
				spec := client.TokenSpec{Name: args[0], Role: *role}
				if *ttl > 0 {
					spec.TTL = ttl.String()
				}
				tk, err := a.api.CreateToken(ctx, spec)
				if err != nil {
					return err
				}
				if a.jsonOutput() {
					var obj map[string]any
					if err := json.Unmarshal(tk.Raw, &obj); err != nil {
						return fmt.Errorf("decoding the token: %w", err)
					}
					obj["token"] = tk.Secret
					return printJSON(a.stdout, obj)
				}
				expires := "never expires"
				if tk.ExpiresAt != nil {
					expires = "expires " + tk.ExpiresAt.Local().Format(time.RFC3339)
				}
				fmt.Fprintf(a.stderr, "token %s (id %s, role %s) %s; it is shown only this once:\n", tk.Name, tk.ID, tk.Role, expires)
				fmt.Fprintln(a.stdout, tk.Secret)
				return nil
			}
		},
	}
}

func tokenRevokeCommand() *command {
	return &command{
		name:     "revoke",
		args:     "ID",
		summary:  "revoke an API token",
		help:     "Revokes an API token by id (DELETE /api/tokens/{id}); it stops working at once, also\non open event and log streams. 'quantix token list' shows the ids.",
		complete: "token",
		setup: func(a *app, fs *flag.FlagSet) runner {
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "ID"); err != nil {
					return err
				}
				if err := a.api.RevokeToken(ctx, args[0]); err != nil {
					return err
				}
				if a.jsonOutput() {
					return printJSON(a.stdout, map[string]any{"revoked": args[0]})
				}
				fmt.Fprintf(a.stdout, "token %s revoked\n", args[0])
				return nil
			}
		},
	}
}
