package auth

import (
	"fmt"
	"strings"
)

// Principal types Kafka uses.
const (
	PrincipalTypeUser = "User"
)

// Principal is an authenticated identity, printed as Kafka prints a
// KafkaPrincipal: "Type:Name" (User:alice).
type Principal struct {
	Type string
	Name string
}

// Anonymous is the principal of an unauthenticated connection (PLAINTEXT, or
// SSL without a client certificate), Kafka's User:ANONYMOUS.
var Anonymous = Principal{Type: PrincipalTypeUser, Name: "ANONYMOUS"}

// User returns User:name.
func User(name string) Principal { return Principal{Type: PrincipalTypeUser, Name: name} }

func (p Principal) String() string { return p.Type + ":" + p.Name }

// ParsePrincipal parses "Type:Name" as Kafka's SecurityUtils.parseKafkaPrincipal
// does: the type is everything before the first colon, the name the rest.
func ParsePrincipal(s string) (Principal, error) {
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return Principal{}, fmt.Errorf("%w: could not parse principal from %q (no colon is present separating the principal type from the principal name)", ErrInvalidACL, s)
	}
	return Principal{Type: s[:i], Name: s[i+1:]}, nil
}

// ParseSuperUsers parses Kafka's super.users value: principals separated by
// semicolons, surrounding spaces ignored, empty entries skipped.
func ParseSuperUsers(s string) ([]Principal, error) {
	var out []Principal
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := ParsePrincipal(part)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
