// Package layering holds the dependency test of the layering in STYLE.md
// and DEVELOPERS.md: cmd/gregor → broker → coordinator → storage;
// broker → controller → storage; broker → wire.
package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Deps       []string // transitive, non-test
	Error      *struct{ Err string }
}

// under reports whether path is root or a package below it.
func under(path, root string) bool { return path == root || strings.HasPrefix(path, root+"/") }

// TestLayering fails (it never skips) when a package of the module breaks
// the layering: wire and storage depend on nothing of ours; coordinator
// and controller do not depend on each other; nothing but cmd/gregor and
// gregortest depends on broker (tests are free to: only non-test
// dependencies are checked).
func TestLayering(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list packages: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-json", "gregor/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := check(pkgs); len(msgs) > 0 {
		t.Fatalf("layering broken:\n  %s", strings.Join(msgs, "\n  "))
	}
}

func decode(out []byte) ([]pkg, error) {
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// check returns one message per violation, or per reason the listing
// cannot be trusted (a package missing, a package go list could not load).
func check(pkgs []pkg) []string {
	var msgs []string
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.ImportPath] = true
		if p.Error != nil {
			msgs = append(msgs, p.ImportPath+": "+p.Error.Err)
		}
		for _, d := range p.Deps {
			if !under(d, "gregor") {
				continue
			}
			switch {
			case (under(p.ImportPath, "gregor/wire") || under(p.ImportPath, "gregor/storage")) &&
				!under(d, "gregor/wire") && !under(d, "gregor/storage") ||
				under(p.ImportPath, "gregor/wire") && under(d, "gregor/storage") ||
				under(p.ImportPath, "gregor/storage") && under(d, "gregor/wire"):
				msgs = append(msgs, p.ImportPath+" depends on "+d+" (wire and storage depend on nothing of ours)")
			case under(p.ImportPath, "gregor/coordinator") && under(d, "gregor/controller"),
				under(p.ImportPath, "gregor/controller") && under(d, "gregor/coordinator"):
				msgs = append(msgs, p.ImportPath+" depends on "+d+" (coordinator and controller do not depend on each other)")
			case under(d, "gregor/broker") && !under(p.ImportPath, "gregor/broker") &&
				p.ImportPath != "gregor/cmd/gregor" && !under(p.ImportPath, "gregor/gregortest"):
				msgs = append(msgs, p.ImportPath+" depends on "+d+" (only cmd/gregor and gregortest depend on broker)")
			}
		}
	}
	// The listing must hold the layers themselves, or the test proves nothing.
	for _, want := range []string{"gregor/wire", "gregor/storage", "gregor/coordinator", "gregor/controller", "gregor/broker", "gregor/cmd/gregor"} {
		if !seen[want] {
			msgs = append(msgs, "go list did not list "+want)
		}
	}
	for _, p := range pkgs {
		if p.ImportPath == "gregor/broker" && !slices.Contains(p.Deps, "gregor/wire") {
			msgs = append(msgs, "gregor/broker's dependencies do not list gregor/wire: go list output not as expected")
		}
	}
	return msgs
}

// TestCheckCatches: each rule reports a violation made up for it.
func TestCheckCatches(t *testing.T) {
	base := []pkg{
		{ImportPath: "gregor/wire"},
		{ImportPath: "gregor/storage"},
		{ImportPath: "gregor/coordinator", Deps: []string{"gregor/storage"}},
		{ImportPath: "gregor/controller", Deps: []string{"gregor/storage"}},
		{ImportPath: "gregor/broker", Deps: []string{"gregor/wire", "gregor/storage", "gregor/coordinator", "gregor/controller"}},
		{ImportPath: "gregor/cmd/gregor", Deps: []string{"gregor/broker"}},
		{ImportPath: "gregor/gregortest", Deps: []string{"gregor/broker"}},
	}
	if msgs := check(base); len(msgs) != 0 {
		t.Fatalf("clean layering reported: %v", msgs)
	}
	for _, bad := range []pkg{
		{ImportPath: "gregor/wire", Deps: []string{"gregor/storage"}},
		{ImportPath: "gregor/storage/x", Deps: []string{"gregor/coordinator"}},
		{ImportPath: "gregor/coordinator", Deps: []string{"gregor/controller"}},
		{ImportPath: "gregor/controller", Deps: []string{"gregor/coordinator"}},
		{ImportPath: "gregor/coordinator", Deps: []string{"gregor/broker"}},
		{ImportPath: "gregor/auth", Deps: []string{"gregor/broker"}},
	} {
		if msgs := check(append(slices.Clone(base), bad)); len(msgs) != 1 {
			t.Errorf("%s -> %v: %d messages, want 1: %v", bad.ImportPath, bad.Deps, len(msgs), msgs)
		}
	}
}
