package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestParseScramSpec(t *testing.T) {
	t.Parallel()
	salt := []byte("fixed-salt")
	want512, err := ScramCredentialFromPassword(ScramSHA512, "admin-secret", salt, 8192)
	if err != nil {
		t.Fatal(err)
	}
	salted512 := base64.StdEncoding.EncodeToString(saltedFor(t, ScramSHA512, "admin-secret", salt, 8192))
	b64salt := base64.StdEncoding.EncodeToString(salt)
	for _, tc := range []struct {
		spec  string
		hash  ScramHash
		user  string
		iters int
		want  *ScramCredential // exact keys when the salt is fixed
		err   string
	}{
		{spec: "SCRAM-SHA-256=[name=alice,password=alice-secret]", hash: ScramSHA256, user: "alice", iters: 4096},
		{spec: `SCRAM-SHA-512=[name="a,b]",password="p w,]"]`, hash: ScramSHA512, user: "a,b]", iters: 4096},
		{spec: "SCRAM-SHA-512=[name=admin,password=admin-secret,iterations=8192,salt=" + b64salt + "]", hash: ScramSHA512, user: "admin", iters: 8192, want: &want512},
		{spec: `SCRAM-SHA-512=[name=admin,iterations=8192,salt="` + b64salt + `",saltedpassword="` + salted512 + `"]`, hash: ScramSHA512, user: "admin", iters: 8192, want: &want512},
		{spec: "SCRAM-SHA-1=[name=a,password=b]", err: "mechanism"},
		{spec: "SCRAM-SHA-256=name=a,password=b", err: "[ ]"},
		{spec: "SCRAM-SHA-256=[password=b]", err: "name is required"},
		{spec: "SCRAM-SHA-256=[name=a]", err: "password or saltedpassword"},
		{spec: "SCRAM-SHA-256=[name=a,password=b,iterations=100]", err: "iterations"},
		{spec: "SCRAM-SHA-256=[name=a,password=b,iterations=16385]", err: "iterations"},
		{spec: "SCRAM-SHA-256=[name=a,password=b,colour=red]", err: "unknown key"},
		{spec: "SCRAM-SHA-256=[name=a,name=b,password=c]", err: "twice"},
		{spec: "SCRAM-SHA-256=[name=a,saltedpassword=AAAA]", err: "needs salt"},
		{spec: "SCRAM-SHA-256=[name=a,password=b,saltedpassword=AAAA,salt=AAAA]", err: "not both"},
		{spec: `SCRAM-SHA-256=[name="a,password=b]`, err: "quote"},
	} {
		got, err := ParseScramSpec(tc.spec)
		if tc.err != "" {
			if !errors.Is(err, ErrScramSpec) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%s: err %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		if got.Hash != tc.hash || got.User != tc.user || got.Credential.Iterations != tc.iters || len(got.Credential.Salt) == 0 {
			t.Fatalf("%s: got %+v", tc.spec, got)
		}
		if tc.want != nil && (!bytes.Equal(got.Credential.StoredKey, tc.want.StoredKey) || !bytes.Equal(got.Credential.ServerKey, tc.want.ServerKey)) {
			t.Fatalf("%s: keys differ from the password's", tc.spec)
		}
	}
}

func saltedFor(t *testing.T, h ScramHash, pw string, salt []byte, iters int) []byte {
	t.Helper()
	b, err := scramSalted(h, pw, salt, iters)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzScramSpec(f *testing.F) {
	for _, s := range []string{"SCRAM-SHA-256=[name=alice,password=alice-secret]", `SCRAM-SHA-512=[name="a,b",iterations=8192,salt="c2FsdA==",saltedpassword="AAAA"]`, "=[]", "SCRAM-SHA-256=[", `SCRAM-SHA-256=[name="`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseScramSpec(s)
		if err == nil && (got.User == "" || got.Credential.Iterations < ScramMinIterations) {
			t.Fatalf("accepted %q as %+v", s, got)
		}
	})
}
