package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// User is a user account as the API shows it.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Raw is the user object as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a user and keeps the JSON in Raw.
func (u *User) UnmarshalJSON(b []byte) error {
	type plain User
	if err := json.Unmarshal(b, (*plain)(u)); err != nil {
		return err
	}
	u.Raw = slices.Clone(b)
	return nil
}

// UserUpdate is the body of PATCH /api/users/{name}: the fields set are
// changed.
type UserUpdate struct {
	Role     *string `json:"role,omitempty"`
	Password *string `json:"password,omitempty"`
}

// ListUsers returns every user (GET /api/users).
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var out []User
	if err := c.list(ctx, "/api/users", "users", &out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetUser returns a user by name.
func (c *Client) GetUser(ctx context.Context, name string) (*User, error) {
	var out User
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/users/" + escape(name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateUser creates a user with a password and a role (admin, operator
// or viewer).
func (c *Client) CreateUser(ctx context.Context, name, password, role string) (*User, error) {
	body := map[string]string{"name": name, "password": password, "role": role}
	var out User
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/users", body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateUser changes a user's role or password (PATCH /api/users/{name}).
// A new password ends the user's sessions.
func (c *Client) UpdateUser(ctx context.Context, name string, upd UserUpdate) (*User, error) {
	var out User
	if err := c.do(ctx, request{method: http.MethodPatch, path: "/api/users/" + escape(name), body: upd}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteUser deletes a user; the server revokes its tokens and sessions.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/users/" + escape(name)}, nil)
}

// Token is an API token as the API shows it: never its secret, except in
// the reply that created it (NewToken).
type Token struct {
	ID         string     `json:"id"`
	Prefix     string     `json:"prefix"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	User       string     `json:"user"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`

	// Raw is the token object as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a token and keeps the JSON in Raw.
func (t *Token) UnmarshalJSON(b []byte) error {
	type plain Token
	if err := json.Unmarshal(b, (*plain)(t)); err != nil {
		return err
	}
	t.Raw = slices.Clone(b)
	return nil
}

// NewToken is the reply of POST /api/tokens: the token and its secret,
// which is shown this once.
type NewToken struct {
	Token
	// Secret is the token to send as "Authorization: Bearer <secret>".
	Secret string
}

// TokenSpec is what POST /api/tokens creates.
type TokenSpec struct {
	Name string `json:"name"`
	// Role is at most the caller's; empty is the caller's role.
	Role string `json:"role,omitempty"`
	// TTL is a duration such as "720h"; empty means no expiry.
	TTL string `json:"ttl,omitempty"`
}

// ListTokens returns every API token (GET /api/tokens).
func (c *Client) ListTokens(ctx context.Context) ([]Token, error) {
	var out []Token
	if err := c.list(ctx, "/api/tokens", "tokens", &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CreateToken creates an API token; the reply carries its secret.
func (c *Client) CreateToken(ctx context.Context, spec TokenSpec) (*NewToken, error) {
	var raw json.RawMessage
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/tokens", body: spec}, &raw); err != nil {
		return nil, err
	}
	var out NewToken
	if err := json.Unmarshal(raw, &out.Token); err != nil {
		return nil, fmt.Errorf("decoding the reply of POST /api/tokens: %w", err)
	}
	var secret struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(raw, &secret); err != nil || secret.Token == "" {
		return nil, fmt.Errorf("the reply of POST /api/tokens carries no token secret: %s", raw)
	}
	out.Secret = secret.Token
	return &out, nil
}

// SetTokenRole changes the role of a token (PATCH /api/tokens/{id}).
func (c *Client) SetTokenRole(ctx context.Context, id, role string) (*Token, error) {
	var out Token
	if err := c.do(ctx, request{method: http.MethodPatch, path: "/api/tokens/" + escape(id), body: map[string]string{"role": role}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeToken revokes a token (DELETE /api/tokens/{id}); it stops working
// at once.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/tokens/" + escape(id)}, nil)
}

// list decodes a list reply that is either a JSON array or an object
// holding the array under key.
func (c *Client) list(ctx context.Context, path, key string, out any) error {
	var raw json.RawMessage
	if err := c.do(ctx, request{method: http.MethodGet, path: path}, &raw); err != nil {
		return err
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return fmt.Errorf("decoding the reply of GET %s: %w", path, err)
		}
		inner, ok := obj[key]
		if !ok {
			return fmt.Errorf("the reply of GET %s has no %q list", path, key)
		}
		raw = inner
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding the reply of GET %s: %w", path, err)
	}
	return nil
}
