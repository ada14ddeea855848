package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Profiles name clusters, as rpk's profiles do: a profile holds the
// connection flags (brokers, TLS, SASL) so `gregor --profile prod topic
// list` or, after `gregor profile use prod`, plain `gregor topic list`
// reaches that cluster. They live in one JSON file, $GREGOR_CONFIG or
// $XDG_CONFIG_HOME/gregor/profiles.json (~/.config/gregor/profiles.json),
// written with mode 0600 since it may hold a SASL password.
//
// Precedence for each setting: a flag on the command line, then its
// environment variable (GREGOR_BROKERS, GREGOR_PASSWORD), then the
// profile (--profile, else GREGOR_PROFILE, else the file's current one),
// then the built-in default.

// profile is one named cluster's connection settings.
type profile struct {
	Brokers       string `json:"brokers,omitempty"`
	TLS           bool   `json:"tls,omitempty"`
	TLSCA         string `json:"tls_ca,omitempty"`
	TLSInsecure   bool   `json:"tls_insecure,omitempty"`
	SASLMechanism string `json:"sasl_mechanism,omitempty"`
	User          string `json:"user,omitempty"`
	Password      string `json:"password,omitempty"`
}

// profileFile is the profiles file.
type profileFile struct {
	Current  string             `json:"current,omitempty"`
	Profiles map[string]profile `json:"profiles"`
}

// profilePath is where the profiles file is.
func profilePath() (string, error) {
	if p := os.Getenv("GREGOR_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("profiles: %v (set GREGOR_CONFIG)", err)
	}
	return filepath.Join(dir, "gregor", "profiles.json"), nil
}

// loadProfiles reads the profiles file; a missing one is empty.
func loadProfiles() (*profileFile, string, error) {
	path, err := profilePath()
	if err != nil {
		return nil, "", err
	}
	pf := &profileFile{Profiles: map[string]profile{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return pf, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	if err := json.Unmarshal(b, pf); err != nil {
		return nil, path, fmt.Errorf("profiles file %s: %v", path, err)
	}
	if pf.Profiles == nil {
		pf.Profiles = map[string]profile{}
	}
	return pf, path, nil
}

// save writes the profiles file atomically with mode 0600.
func (pf *profileFile) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// skipProfile marks the profile commands: they define profiles from the
// flags, so no profile is applied to them.
const skipProfile = "gregor/skip-profile"

// applyProfile fills the connection settings the command line and the
// environment left unset from the selected profile, if any.
func (c *cli) applyProfile(cmd *cobra.Command) error {
	for p := cmd; p != nil; p = p.Parent() {
		if p.Annotations[skipProfile] != "" {
			return nil
		}
	}
	name := c.profile
	if name == "" {
		name = os.Getenv("GREGOR_PROFILE")
	}
	pf, path, err := loadProfiles()
	if err != nil {
		if name == "" {
			return nil // no profile asked for: an unreadable file does not matter
		}
		return err
	}
	if name == "" {
		name = pf.Current
	}
	if name == "" {
		return nil
	}
	p, ok := pf.Profiles[name]
	if !ok {
		return usageErrorf("profile %q does not exist in %s (gregor profile list)", name, path)
	}
	flags := cmd.Flags()
	unset := func(flag, env string) bool {
		return !flags.Changed(flag) && (env == "" || os.Getenv(env) == "")
	}
	if p.Brokers != "" && unset("brokers", "GREGOR_BROKERS") {
		c.brokers = p.Brokers
	}
	if unset("tls", "") {
		c.sec.tls = p.TLS
	}
	if unset("tls-ca", "") {
		c.sec.caFile = p.TLSCA
	}
	if unset("tls-insecure", "") {
		c.sec.insecure = p.TLSInsecure
	}
	if unset("sasl-mechanism", "") {
		c.sec.mechanism = p.SASLMechanism
	}
	if unset("user", "") {
		c.sec.user = p.User
	}
	if unset("password", "GREGOR_PASSWORD") {
		c.sec.pass = p.Password
	}
	return nil
}

func (c *cli) profileCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "profile",
		Short:       "named clusters: connection flags kept in a profiles file",
		Annotations: map[string]string{skipProfile: "1"},
		RunE:        parentRun,
	}
	var use bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "create or replace a profile from the connection flags (-b, --tls..., --sasl-mechanism, --user, --password)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if name == "" || strings.ContainsAny(name, " \t\n") {
				return usageErrorf("profile name %q: not empty, no blanks", name)
			}
			if _, err := c.sec.opts(); err != nil {
				return err
			}
			pf, path, err := loadProfiles()
			if err != nil {
				return err
			}
			pf.Profiles[name] = profile{
				Brokers: c.brokers, TLS: c.sec.tls, TLSCA: c.sec.caFile, TLSInsecure: c.sec.insecure,
				SASLMechanism: c.sec.mechanism, User: c.sec.user, Password: c.sec.pass,
			}
			if use || pf.Current == "" {
				pf.Current = name
			}
			if err := pf.save(path); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "profile %s saved in %s%s\n", name, path, map[bool]string{true: " (current)"}[pf.Current == name])
			return nil
		},
	}
	create.Flags().BoolVar(&use, "use", false, "make it the current profile")
	list := &cobra.Command{
		Use:   "list",
		Short: "list profiles (* marks the current one)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			pf, _, err := loadProfiles()
			if err != nil {
				return err
			}
			names := slices.Sorted(func(yield func(string) bool) {
				for n := range pf.Profiles {
					if !yield(n) {
						return
					}
				}
			})
			if c.json() {
				type row struct {
					Name    string `json:"name"`
					Current bool   `json:"current"`
					profile
				}
				out := []row{}
				for _, n := range names {
					p := pf.Profiles[n]
					p.Password = mask(p.Password)
					out = append(out, row{n, n == pf.Current, p})
				}
				return c.writeJSON(out)
			}
			var rows [][]string
			for _, n := range names {
				p := pf.Profiles[n]
				cur := ""
				if n == pf.Current {
					cur = "*"
				}
				sec := "plaintext"
				if p.TLS || p.TLSCA != "" || p.TLSInsecure {
					sec = "tls"
				}
				if p.SASLMechanism != "" {
					sec += " sasl " + p.SASLMechanism + " " + p.User
				}
				rows = append(rows, []string{cur, n, p.Brokers, sec})
			}
			return c.table([]string{"", "NAME", "BROKERS", "SECURITY"}, rows)
		},
	}
	useCmd := &cobra.Command{
		Use:   "use NAME",
		Short: "make NAME the current profile",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editProfiles(func(pf *profileFile) error {
				if _, ok := pf.Profiles[args[0]]; !ok {
					return fmt.Errorf("profile %q does not exist", args[0])
				}
				pf.Current = args[0]
				fmt.Fprintf(c.stdout, "current profile: %s\n", args[0])
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "delete a profile",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editProfiles(func(pf *profileFile) error {
				if _, ok := pf.Profiles[args[0]]; !ok {
					return fmt.Errorf("profile %q does not exist", args[0])
				}
				delete(pf.Profiles, args[0])
				if pf.Current == args[0] {
					pf.Current = ""
				}
				fmt.Fprintf(c.stdout, "deleted profile %s\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, useCmd, del)
	return cmd
}

// editProfiles loads the profiles file, lets f change it, and saves it.
func editProfiles(f func(*profileFile) error) error {
	pf, path, err := loadProfiles()
	if err != nil {
		return err
	}
	if err := f(pf); err != nil {
		return err
	}
	return pf.save(path)
}

// mask hides a password in listings.
func mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// registerProfileFlag adds --profile.
func (c *cli) registerProfileFlag(pf *pflag.FlagSet) {
	pf.StringVar(&c.profile, "profile", "", "use this profile's connection settings (env GREGOR_PROFILE; default: the current profile)")
}
