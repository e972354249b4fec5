package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"
)

// JoinToken is a join token as the API lists it: never its secret.
type JoinToken struct {
	ID          string     `json:"id"`
	Description string     `json:"description"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	Uses        int        `json:"uses"`
	Used        int        `json:"used"`
	RevokedAt   *time.Time `json:"revoked_at"`
	// State is "active" while agents may join with the token, else
	// "revoked", "used_up" or "expired".
	State string `json:"state"`

	// Raw is the token as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a token and keeps the JSON in Raw.
func (j *JoinToken) UnmarshalJSON(b []byte) error {
	type plain JoinToken
	if err := json.Unmarshal(b, (*plain)(j)); err != nil {
		return err
	}
	j.Raw = slices.Clone(b)
	return nil
}

// NewJoinToken is a join token just made, with its text: the only time
// the API shows it.
type NewJoinToken struct {
	ID          string    `json:"id"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Uses        int       `json:"uses"`
	Used        int       `json:"used"`
	State       string    `json:"state"`
	// Token is what a new agent is given (its agent.join_token); it holds
	// the secret and the fingerprint of the agent CA it pins.
	Token string `json:"token"`
	// CAFingerprint is the SHA-256 fingerprint of the agent CA.
	CAFingerprint string `json:"ca_fingerprint"`

	// Raw is the reply as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a reply and keeps the JSON in Raw.
func (n *NewJoinToken) UnmarshalJSON(b []byte) error {
	type plain NewJoinToken
	if err := json.Unmarshal(b, (*plain)(n)); err != nil {
		return err
	}
	n.Raw = slices.Clone(b)
	return nil
}

// JoinTokenSpec is what a new join token allows; zero fields take the
// server's defaults (24 hours, one use).
type JoinTokenSpec struct {
	TTL         time.Duration
	Uses        int
	Description string
}

// joinTokenRequest is the body of POST /api/join-tokens.
type joinTokenRequest struct {
	TTL         string `json:"ttl,omitempty"`
	Uses        int    `json:"uses,omitempty"`
	Description string `json:"description,omitempty"`
}

// CreateJoinToken makes a join token for new agents.
func (c *Client) CreateJoinToken(ctx context.Context, spec JoinTokenSpec) (*NewJoinToken, error) {
	body := joinTokenRequest{Uses: spec.Uses, Description: spec.Description}
	if spec.TTL != 0 {
		body.TTL = spec.TTL.String()
	}
	var out NewJoinToken
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/join-tokens", body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListJoinTokens returns every join token, oldest first.
func (c *Client) ListJoinTokens(ctx context.Context) ([]JoinToken, error) {
	var out struct {
		JoinTokens []JoinToken `json:"join_tokens"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/join-tokens"}, &out); err != nil {
		return nil, err
	}
	return out.JoinTokens, nil
}

// RevokeJoinToken revokes join token id: agents cannot join with it from
// then on. Revoking a revoked token is no error.
func (c *Client) RevokeJoinToken(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("no join token given: its id is needed")
	}
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/join-tokens/" + escape(id)}, nil)
}
