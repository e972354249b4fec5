package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"github.com/quantixvm/quantix/core/config"
)

func configCommand() *command {
	return &command{
		name:    "config",
		summary: "check quantixd configuration files",
		subs:    []*command{configValidateCommand()},
	}
}

func configValidateCommand() *command {
	return &command{
		name:    "validate",
		args:    "FILE",
		summary: "check a quantixd configuration file",
		help: `Checks an HCL configuration file of quantixd as the daemon would read it, over
the defaults, without starting anything and without the API: syntax, unknown
blocks and attributes, and every value. Each problem is printed as
FILE:LINE,COLUMN: what is wrong. With -env, the QUANTIX_* variables of the
environment are applied over the file first, as the daemon does.`,
		complete: "file",
		setup: func(a *app, fset *flag.FlagSet) runner {
			withEnv := fset.Bool("env", false, "apply the QUANTIX_* environment variables over the file, as quantixd does")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "FILE"); err != nil {
					return err
				}
				path := args[0]
				var cfg *config.Config
				var err error
				if *withEnv {
					if _, serr := os.Stat(path); serr != nil {
						return fmt.Errorf("reading %s: %w", path, unwrapPathError(serr))
					}
					cfg, err = config.Load(path, os.Environ())
				} else {
					src, rerr := os.ReadFile(path)
					if rerr != nil {
						return fmt.Errorf("reading %s: %w", path, unwrapPathError(rerr))
					}
					cfg, err = config.Parse(path, src)
				}
				if err == nil {
					err = cfg.Validate()
				}
				if err != nil {
					return fmt.Errorf("%s is not a valid configuration:\n%w", path, err)
				}
				fmt.Fprintf(a.stdout, "%s: valid\n", path)
				return nil
			}
		},
	}
}

// unwrapPathError drops the path an *fs.PathError repeats.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
