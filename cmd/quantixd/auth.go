package main

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/config"
)

// openAuth opens the users, tokens and sessions of the API over the
// inventory and, on the first start (no user yet), makes user admin with a
// random password and an admin token, written under data_dir with mode
// 0600; Bootstrap logs where they are, never what they hold.
func (d *daemon) openAuth(ctx context.Context, cfg *config.Config, logger hclog.Logger) error {
	d.auth = auth.New(d.store.Auth(), auth.Options{Logger: logger})
	res, err := d.auth.Bootstrap(ctx, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("creating the first admin user under data_dir %s: %w", cfg.DataDir, err)
	}
	if !res.Created {
		logger.Debug("users exist: no first admin made")
	}
	return nil
}
