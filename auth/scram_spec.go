package auth

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// ScramSpec is one credential in the form of `kafka-storage format
// --add-scram`: MECHANISM=[name=NAME,password=PASSWORD] or
// MECHANISM=[name=NAME,iterations=N,salt=BASE64,saltedpassword=BASE64].
type ScramSpec struct {
	Hash       ScramHash
	User       string
	Credential ScramCredential
}

// ParseScramSpec parses and derives one --add-scram credential. Values may
// be double-quoted (then they may hold ',' and ']'); iterations default to
// 4096; a password gets a fresh random salt unless salt= is given.
func ParseScramSpec(spec string) (ScramSpec, error) {
	bad := func(format string, a ...any) (ScramSpec, error) {
		return ScramSpec{}, fmt.Errorf("%w: --add-scram %s", ErrScramSpec, fmt.Sprintf(format, a...))
	}
	mech, body, ok := strings.Cut(spec, "=")
	if !ok {
		return bad("%q is not MECHANISM=[key=value,...]", clipString(spec))
	}
	h, ok := ParseScramMechanism(strings.TrimSpace(mech))
	if !ok {
		return bad("mechanism %q is not SCRAM-SHA-256 or SCRAM-SHA-512", clipString(mech))
	}
	body = strings.TrimSpace(body)
	if len(body) < 2 || body[0] != '[' || body[len(body)-1] != ']' {
		return bad("%q: the credential must be in [ ]", clipString(spec))
	}
	kv, err := parseSpecPairs(body[1 : len(body)-1])
	if err != nil {
		return bad("%v", err)
	}
	for k := range kv {
		switch k {
		case "name", "password", "iterations", "salt", "saltedpassword":
		default:
			return bad("unknown key %q", clipString(k))
		}
	}
	out := ScramSpec{Hash: h, User: kv["name"]}
	if out.User == "" {
		return bad("name is required")
	}
	iters := ScramMinIterations
	if v, ok := kv["iterations"]; ok {
		if iters, err = strconv.Atoi(v); err != nil {
			return bad("iterations %q is not a number", clipString(v))
		}
	}
	if iters < ScramMinIterations || iters > ScramMaxIterations {
		return bad("iterations %d outside %d..%d", iters, ScramMinIterations, ScramMaxIterations)
	}
	var salt []byte
	if v, ok := kv["salt"]; ok {
		if salt, err = base64.StdEncoding.DecodeString(v); err != nil || len(salt) == 0 {
			return bad("salt is not base64")
		}
	}
	pw, hasPW := kv["password"]
	spw, hasSalted := kv["saltedpassword"]
	switch {
	case hasPW && hasSalted:
		return bad("give password or saltedpassword, not both")
	case hasSalted:
		if salt == nil {
			return bad("saltedpassword needs salt")
		}
		salted, err := base64.StdEncoding.DecodeString(spw)
		if err != nil || len(salted) != h.size() {
			return bad("saltedpassword is not %d base64 bytes", h.size())
		}
		out.Credential = ScramCredentialFromSaltedPassword(h, salt, salted, iters)
	case hasPW:
		if pw == "" {
			return bad("password is empty")
		}
		if salt == nil {
			out.Credential, err = NewScramCredential(h, pw, iters)
		} else {
			out.Credential, err = ScramCredentialFromPassword(h, pw, salt, iters)
		}
		if err != nil {
			return bad("%v", err)
		}
	default:
		return bad("password or saltedpassword is required")
	}
	return out, nil
}

// parseSpecPairs splits key=value pairs separated by ',', values
// optionally double-quoted.
func parseSpecPairs(s string) (map[string]string, error) {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", clipString(s))
		}
		var v string
		rest = strings.TrimLeft(rest, " ")
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %s", k)
			}
			v, rest = rest[1:1+end], strings.TrimLeft(rest[2+end:], " ")
			if rest != "" && rest[0] != ',' {
				return nil, fmt.Errorf("text after the quoted value of %s", k)
			}
		} else {
			i := strings.IndexByte(rest, ',')
			if i < 0 {
				i = len(rest)
			}
			v, rest = strings.TrimSpace(rest[:i]), rest[i:]
		}
		rest = strings.TrimPrefix(rest, ",")
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("key %s given twice", k)
		}
		out[k] = v
		s = rest
	}
	return out, nil
}

func clipString(s string) string { return string(clip([]byte(s))) }
