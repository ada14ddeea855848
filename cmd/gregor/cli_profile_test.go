package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gregor/gregortest"
)

// TestCLIProfiles: a profile holds the brokers; `--profile`, the current
// profile and GREGOR_PROFILE select it; a flag beats it; the file is 0600
// and listings mask the password; a missing profile is a usage error.
func TestCLIProfiles(t *testing.T) {
	// Not target(t): t.Setenv needs a test that is not parallel.
	b := strings.Join(gregortest.NewCluster(t, gregortest.Brokers(1)).Seeds(), ",")
	t.Setenv("GREGOR_BROKERS", "")
	t.Setenv("GREGOR_PROFILE", "")
	path := filepath.Join(t.TempDir(), "profiles.json")
	t.Setenv("GREGOR_CONFIG", path)

	// runCLI always passes -b; profiles are about leaving it out.
	run := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errb strings.Builder
		code := execute(t.Context(), args, strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	if out, errs, code := run("profile", "create", "dead", "-b", "127.0.0.1:1", "--sasl-mechanism", "PLAIN", "--user", "u", "--password", "secret"); code != 0 {
		t.Fatalf("profile create dead: %d %q %q", code, out, errs)
	}
	if out, errs, code := run("profile", "create", "live", "-b", b); code != 0 || !strings.Contains(out, "profile live saved") {
		t.Fatalf("profile create live: %d %q %q", code, out, errs)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("profiles file: %v %v", fi, err)
	}
	// The first profile created became current: dead (unreachable).
	if _, errs, code := run("topic", "list"); code != 1 || !strings.Contains(errs, "cannot reach brokers 127.0.0.1:1") {
		t.Errorf("current profile dead: exit %d, %q", code, errs)
	}
	if _, errs, code := run("--profile", "live", "topic", "list"); code != 0 {
		t.Errorf("--profile live: exit %d, %q", code, errs)
	}
	t.Setenv("GREGOR_PROFILE", "live")
	if _, errs, code := run("topic", "list"); code != 0 {
		t.Errorf("GREGOR_PROFILE=live: exit %d, %q", code, errs)
	}
	t.Setenv("GREGOR_PROFILE", "")
	// A flag beats the profile, setting by setting: -b alone keeps the
	// profile's SASL login (which this broker refuses), an empty
	// --sasl-mechanism drops it.
	if _, errs, code := run("-b", b, "topic", "list"); code != 1 || !strings.Contains(errs, "ILLEGAL_SASL_STATE") {
		t.Errorf("-b over the dead profile: exit %d, %q", code, errs)
	}
	if _, errs, code := run("-b", b, "--sasl-mechanism", "", "--user", "", "topic", "list"); code != 0 {
		t.Errorf("-b and no SASL over the dead profile: exit %d, %q", code, errs)
	}
	if out, _, code := run("profile", "use", "live"); code != 0 || out != "current profile: live\n" {
		t.Errorf("profile use: %d %q", code, out)
	}
	if _, errs, code := run("topic", "list"); code != 0 {
		t.Errorf("current profile live: exit %d, %q", code, errs)
	}
	out, _, _ := run("--format", "json", "profile", "list")
	var rows []struct {
		Name     string `json:"name"`
		Current  bool   `json:"current"`
		Password string `json:"password"`
		Brokers  string `json:"brokers"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 || rows[0].Name != "dead" || rows[0].Password != "***" || rows[0].Current || !rows[1].Current || rows[1].Brokers != b {
		t.Errorf("profile list json: %v %q", err, out)
	}
	if strings.Contains(out, "secret") {
		t.Errorf("profile list shows the password: %q", out)
	}
	if _, errs, code := run("--profile", "nosuch", "topic", "list"); code != 2 || !strings.Contains(errs, `profile "nosuch" does not exist`) {
		t.Errorf("--profile nosuch: exit %d, %q", code, errs)
	}
	if out, _, code := run("profile", "delete", "live"); code != 0 || out != "deleted profile live\n" {
		t.Errorf("profile delete: %d %q", code, out)
	}
	if _, _, code := run("profile", "use", "live"); code != 1 {
		t.Errorf("use of a deleted profile: exit %d", code)
	}
}
