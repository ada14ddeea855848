package main

import (
	"strings"
	"testing"
)

// TestServeConfigErrors: serve stops before binding anything when the
// configuration is wrong, naming what is wrong.
func TestServeConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"server.properties"}, `unexpected argument "server.properties"`},
		{[]string{"--override", "num.partitions=x"}, `config: num.partitions: not an integer: "x"`},
		{[]string{"--override", "log.dirs=/a,/b,/a"}, "config: log.dirs: /a is listed twice"},
		{[]string{"--config", "/nonexistent/server.properties"}, "no such file"},
	} {
		if err := serve(tc.args); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("serve %q: got %v, want error containing %q", tc.args, err, tc.wantErr)
		}
	}
}
