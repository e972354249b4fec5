package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/quantixvm/quantix/client"
	"github.com/quantixvm/quantix/core/pki"
)

// terminal reads what a person types: lines from stdin, and passwords
// without echo when stdin is a terminal.
type terminal struct {
	in    *bufio.Reader
	fd    int
	isTTY bool
}

// terminal returns the app's terminal, stdin by default.
func (a *app) terminal() *terminal {
	if a.term == nil {
		fd := int(os.Stdin.Fd())
		a.term = &terminal{in: bufio.NewReader(os.Stdin), fd: fd, isTTY: term.IsTerminal(fd)}
	}
	return a.term
}

// line writes prompt to w and reads one line, without its line break.
func (t *terminal) line(w io.Writer, prompt string) (string, error) {
	fmt.Fprint(w, prompt)
	s, err := t.in.ReadString('\n')
	if err != nil && (err != io.EOF || s == "") {
		if err == io.EOF {
			return "", errors.New("stdin ended before a line was read")
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// password reads a password: from the terminal without echo, else one
// line of stdin.
func (t *terminal) password(w io.Writer, prompt string) (string, error) {
	if !t.isTTY {
		return t.line(io.Discard, "")
	}
	fmt.Fprint(w, prompt)
	b, err := term.ReadPassword(t.fd)
	fmt.Fprintln(w)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return string(b), nil
}

// readPassword reads a password for a command: one line of stdin with
// -password-stdin or without a terminal, else typed twice without echo
// when confirm is set.
func (a *app) readPassword(fromStdin, confirm bool, prompt string) (string, error) {
	t := a.terminal()
	var pw string
	var err error
	if fromStdin || !t.isTTY {
		pw, err = t.line(io.Discard, "")
	} else {
		pw, err = t.password(a.stderr, prompt)
		if err == nil && confirm {
			var again string
			again, err = t.password(a.stderr, "Again: ")
			if err == nil && again != pw {
				err = errors.New("the two passwords differ")
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if pw == "" {
		return "", errors.New("the password is empty")
	}
	return pw, nil
}

func loginCommand() *command {
	return &command{
		name:    "login",
		summary: "log in to the API and keep a token for it",
		help: `Logs in to the API at -address (POST /api/auth/login asking for an API token)
and keeps the token for that address in credentials.json under the user's
configuration directory ($XDG_CONFIG_HOME/quantix, else ~/.config/quantix; the
file has mode 0600, the directory 0700). Later commands to the same address send
it unless -token or QUANTIX_TOKEN is given. The token has the user's role and
expires as the server decides (30 days by default); 'quantix logout' revokes it.

The user name is -username, else asked for. The password is read from the
terminal without echo, or from the first line of stdin with -password-stdin or
when stdin is not a terminal.

Against an https address whose certificate is not signed by a CA this client
trusts (and without -ca-cert or QUANTIX_CACERT), login shows the SHA-256
fingerprint of the CA the server presents and asks before trusting it: compare
it with the ca_sha256 quantixd logged at start. The CA is then kept next to the
credentials and trusted for that address from then on. Without a terminal to
ask on, the fingerprint must be given with -accept-fingerprint.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			username := fs.String("username", "", "the user `name` (default: asked for)")
			pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
			accept := fs.String("accept-fingerprint", "", "trust the server's CA if its SHA-256 fingerprint is `hex` (64 hex digits, colons allowed)")
			tokenName := fs.String("token-name", "", "`name` of the token the server issues (default quantix-cli@<this host>)")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				st, err := userStore(a.getenv)
				if err != nil {
					return err
				}
				tlsCfg, err := a.trustServer(ctx, st, *accept)
				if err != nil {
					return err
				}
				user := *username
				t := a.terminal()
				if user == "" {
					if !t.isTTY || *pwStdin {
						return usagef("-username is needed when the password comes from stdin")
					}
					if user, err = t.line(a.stderr, "Username: "); err != nil {
						return err
					}
					if user = strings.TrimSpace(user); user == "" {
						return errors.New("the user name is empty")
					}
				}
				pw, err := a.readPassword(*pwStdin, false, "Password for "+user+": ")
				if err != nil {
					return err
				}
				name := *tokenName
				if name == "" {
					host, _ := os.Hostname()
					name = "quantix-cli@" + host
				}
				c := a.newClient(a.addr, "", tlsCfg)
				res, err := c.Login(ctx, client.LoginRequest{Username: user, Password: pw, Kind: client.LoginKindToken, TokenName: name})
				if err != nil {
					return fmt.Errorf("logging in to %s: %w", a.addr, err)
				}
				if err := st.setLogin(a.addr, savedLogin{
					User: res.User, Role: res.Role, Token: res.Token, TokenID: res.TokenID,
					ExpiresAt: res.ExpiresAt, SavedAt: time.Now().UTC(),
				}); err != nil {
					return fmt.Errorf("logged in, but saving the token failed (revoke token %s with 'quantix token revoke'): %w", res.TokenID, err)
				}
				if a.jsonOutput() {
					out := map[string]any{"address": a.addr, "user": res.User, "role": res.Role, "token_id": res.TokenID,
						"expires_at": res.ExpiresAt, "credentials_file": st.credentialsPath()}
					if path, _ := st.savedCA(a.addr); path != "" {
						out["ca_file"] = path
					}
					return printJSON(a.stdout, out)
				}
				until := "no expiry"
				if res.ExpiresAt != nil {
					until = "until " + stamp(*res.ExpiresAt)
				}
				fmt.Fprintf(a.stdout, "Logged in to %s as %s (role %s); token %s saved in %s, valid %s.\n",
					a.addr, res.User, res.Role, res.TokenID, st.credentialsPath(), until)
				return nil
			}
		},
	}
}

// trustServer returns the TLS configuration to log in with. For an https
// address whose certificate this client cannot verify (no -ca-cert or
// QUANTIX_CACERT given), it fetches the chain the server presents, shows
// the fingerprint of its CA and asks whether to trust it (or compares it
// with accept); a trusted CA is kept in st for the address.
func (a *app) trustServer(ctx context.Context, st *store, accept string) (*tls.Config, error) {
	tlsCfg, err := a.tlsConfig(a.addr)
	if err != nil || !strings.HasPrefix(a.addr, "https://") {
		return tlsCfg, err
	}
	_, err = a.newClient(a.addr, "", tlsCfg).Health(ctx)
	if err == nil || !client.IsUnknownAuthority(err) {
		var ae *client.APIError
		if err != nil && !errors.As(err, &ae) {
			return nil, err
		}
		return tlsCfg, nil
	}
	if a.caFrom == "-ca-cert" || a.caFrom == envCACert {
		return nil, err
	}
	chain, ferr := client.FetchChain(ctx, a.addr)
	if ferr != nil {
		return nil, ferr
	}
	ca := chain[len(chain)-1]
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, c := range chain[1 : len(chain)-1] {
		inter.AddCert(c)
	}
	u, err := url.Parse(a.addr)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	if _, verr := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host}); verr != nil {
		return nil, fmt.Errorf("the certificate %s presents does not verify against the CA it sent (%v): not offering to trust it", a.addr, verr)
	}
	fp := pki.Fingerprint(ca)
	if a.caFrom == "saved" {
		fmt.Fprintf(a.stderr, "WARNING: the CA trusted earlier for %s (%s) no longer signs the certificate it presents: its CA was replaced, or this is not the same server.\n", a.addr, a.caFile)
	}
	fmt.Fprintf(a.stderr, "The server at %s presents a certificate of a CA this client does not trust:\n  subject: %s\n  SHA-256 fingerprint: %s\n",
		a.addr, ca.Subject.String(), fp)
	fmt.Fprintf(a.stderr, "Compare it with the ca_sha256 quantixd logged at start (or run: openssl x509 -noout -fingerprint -sha256 -in <data_dir>/pki/api/ca.crt).\n")
	switch t := a.terminal(); {
	case accept != "":
		want := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(accept), ":", ""))
		if want != fp {
			return nil, fmt.Errorf("the server's CA fingerprint is %s, not the %s of -accept-fingerprint: not trusting it (is this the right server?)", fp, want)
		}
	case !t.isTTY:
		return nil, errors.New("no terminal to ask on: check the fingerprint above and pass it with -accept-fingerprint, or give the CA certificate with -ca-cert FILE")
	default:
		answer, err := t.line(a.stderr, "Trust this CA for "+a.addr+"? [y/N] ")
		if err != nil {
			return nil, err
		}
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return nil, errors.New("the server's CA was not trusted: nothing saved")
		}
	}
	path, err := st.saveCA(a.addr, ca)
	if err != nil {
		return nil, fmt.Errorf("saving the trusted CA: %w", err)
	}
	fmt.Fprintf(a.stderr, "Trusting the CA for %s from now on (saved in %s).\n", a.addr, path)
	return a.tlsConfig(a.addr)
}

func logoutCommand() *command {
	return &command{
		name:    "logout",
		summary: "revoke the saved token and forget it",
		help: `Logs out of the API at -address: POST /api/auth/logout revokes the token sent
(the one 'quantix login' saved, or -token / QUANTIX_TOKEN), and the saved login of
the address is removed from credentials.json. A token the server no longer
accepts is forgotten all the same. A CA trusted at login stays trusted.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				st, stErr := userStore(a.getenv)
				if a.tokenFrom == "" {
					if stErr == nil && a.loginExpired != nil {
						if _, err := st.forget(a.addr); err != nil {
							return err
						}
						fmt.Fprintf(a.stdout, "The login for %s had expired; removed it from %s.\n", a.addr, st.credentialsPath())
						return nil
					}
					return fmt.Errorf("not logged in to %s: no saved login, -token or %s", a.addr, envToken)
				}
				err := a.api.Logout(ctx)
				var ae *client.APIError
				revoked := err == nil
				if err != nil && !(errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized) {
					return fmt.Errorf("logging out of %s (the saved token is kept; retry when the server answers): %w", a.addr, err)
				}
				forgot := false
				if stErr == nil {
					if l, ok, lerr := st.login(a.addr); lerr == nil && ok && l.Token == a.api.Token {
						if forgot, err = st.forget(a.addr); err != nil {
							return err
						}
					}
				}
				msg := "Logged out of " + a.addr
				if revoked {
					msg += ": the token is revoked"
				} else {
					msg += ": the server no longer accepted the token"
				}
				if forgot {
					msg += " and removed from " + st.credentialsPath()
				}
				fmt.Fprintln(a.stdout, msg+".")
				return nil
			}
		},
	}
}
