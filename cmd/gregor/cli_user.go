package main

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// userCmd manages SCRAM users (DescribeUserScramCredentials and
// AlterUserScramCredentials through kadm). The password is salted and
// hashed here; only the salted password reaches the cluster.
func (c *cli) userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "create, list and delete SCRAM users", RunE: parentRun}
	cmd.AddCommand(c.userCreateCmd(), c.userListCmd(), c.userDeleteCmd())
	return cmd
}

// scramMechanism parses a --mechanism value.
func scramMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(s) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, usageErrorf("--mechanism: %q is not SCRAM-SHA-256 or SCRAM-SHA-512", s)
}

func (c *cli) userCreateCmd() *cobra.Command {
	var mech, password string
	var iterations int32
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "create a SCRAM user, or set its password (read from stdin unless --new-password)",
		Args:  exactArgs(1),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			m, err := scramMechanism(mech)
			if err != nil {
				return err
			}
			if password == "" {
				line, err := bufio.NewReader(c.stdin).ReadString('\n')
				if err != nil && line == "" {
					return usageErrorf("user create: no password: give --new-password or one line on stdin")
				}
				password = strings.TrimRight(line, "\r\n")
			}
			if password == "" {
				return usageErrorf("user create: the password is empty")
			}
			res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: args[0], Mechanism: m, Iterations: iterations, Password: password}})
			if err != nil {
				return err
			}
			r, ok := res[args[0]]
			if !ok {
				return fmt.Errorf("user %s: not answered", args[0])
			}
			if r.Err != nil {
				return fmt.Errorf("user %s: %s", args[0], errText(r.Err, r.ErrMessage))
			}
			fmt.Fprintf(c.stdout, "user %s: %s credential set (%d iterations)\n", args[0], m, iterations)
			return nil
		}),
	}
	cmd.Flags().StringVar(&mech, "mechanism", "SCRAM-SHA-512", "SCRAM-SHA-256 or SCRAM-SHA-512")
	cmd.Flags().Int32Var(&iterations, "iterations", 8192, "PBKDF2 iterations, 4096 to 16384")
	cmd.Flags().StringVar(&password, "new-password", "", "the user's password (default: one line read from stdin)")
	return cmd
}

type userOut struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

func (c *cli) userListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list [NAME...]",
		Aliases: []string{"ls"},
		Short:   "list SCRAM users with their mechanisms and iterations (all users, or those named)",
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			ds, err := adm.DescribeUserSCRAMs(ctx, args...)
			if err != nil {
				return err
			}
			outs := []userOut{}
			var errs []string
			for _, d := range ds {
				if d.Err != nil {
					errs = append(errs, fmt.Sprintf("user %s: %s", d.User, errText(d.Err, d.ErrMessage)))
					continue
				}
				for _, ci := range d.CredInfos {
					outs = append(outs, userOut{d.User, ci.Mechanism.String(), ci.Iterations})
				}
			}
			sort.Slice(outs, func(i, j int) bool {
				if outs[i].User != outs[j].User {
					return outs[i].User < outs[j].User
				}
				return outs[i].Mechanism < outs[j].Mechanism
			})
			if c.json() {
				if err := c.writeJSON(outs); err != nil {
					return err
				}
			} else {
				var rows [][]string
				for _, o := range outs {
					rows = append(rows, []string{o.User, o.Mechanism, itoa(o.Iterations)})
				}
				if err := c.table([]string{"USER", "MECHANISM", "ITERATIONS"}, rows); err != nil {
					return err
				}
			}
			if len(errs) > 0 {
				sort.Strings(errs)
				return fmt.Errorf("%s", strings.Join(errs, "; "))
			}
			return nil
		}),
	}
}

func (c *cli) userDeleteCmd() *cobra.Command {
	var mech string
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "delete a SCRAM user's credentials (every mechanism, or --mechanism)",
		Args:  exactArgs(1),
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, args []string) error {
			var dels []kadm.DeleteSCRAM
			if mech != "" {
				m, err := scramMechanism(mech)
				if err != nil {
					return err
				}
				dels = append(dels, kadm.DeleteSCRAM{User: args[0], Mechanism: m})
			} else {
				ds, err := adm.DescribeUserSCRAMs(ctx, args[0])
				if err != nil {
					return err
				}
				d := ds[args[0]]
				if d.Err != nil {
					return fmt.Errorf("user %s: %s", args[0], errText(d.Err, d.ErrMessage))
				}
				for _, ci := range d.CredInfos {
					dels = append(dels, kadm.DeleteSCRAM{User: args[0], Mechanism: ci.Mechanism})
				}
			}
			// One request per mechanism: Kafka refuses a user named twice
			// in one request.
			for _, del := range dels {
				res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{del}, nil)
				if err != nil {
					return err
				}
				if r := res[args[0]]; r.Err != nil {
					return fmt.Errorf("user %s %s: %s", args[0], del.Mechanism, errText(r.Err, r.ErrMessage))
				}
				fmt.Fprintf(c.stdout, "user %s: %s credential deleted\n", args[0], del.Mechanism)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&mech, "mechanism", "", "delete only this mechanism's credential")
	return cmd
}
