package auth

import (
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
)

// Kafka's SslPrincipalMapper grammar. It is RE2-compatible, so the rules
// split and parse exactly as Kafka splits and parses them.
const rulePattern = `(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)`

var (
	ruleSplitter = regexp.MustCompile(`\s*(` + rulePattern + `)\s*(,\s*|$)`)
	ruleParser   = regexp.MustCompile(`^(?:` + rulePattern + `)`)
)

// PrincipalMapper applies ssl.principal.mapping.rules to a certificate
// subject DN.
type PrincipalMapper struct {
	rules []mappingRule
}

type mappingRule struct {
	isDefault   bool
	source      string // the pattern as written
	replacement string // as written
	full        *regexp.Regexp
	re          *regexp.Regexp
	template    string // replacement in Go's Expand syntax
	lower       bool
	upper       bool
}

// ParseMappingRules parses ssl.principal.mapping.rules: a comma-separated
// list of DEFAULT and RULE:pattern/replacement/[LU] entries, as Kafka's
// SslPrincipalMapper does (an empty value means DEFAULT). Patterns use Go's
// RE2 syntax, which accepts the usual Java patterns but not lookaround,
// backreferences or possessive quantifiers; those are errors.
func ParseMappingRules(s string) (*PrincipalMapper, error) {
	m := &PrincipalMapper{}
	for _, match := range ruleSplitter.FindAllStringSubmatch(strings.TrimSpace(s), -1) {
		rule := match[1]
		loc := ruleParser.FindStringSubmatchIndex(rule)
		if loc == nil {
			return nil, fmt.Errorf("%w: invalid rule: %s", ErrMappingRule, rule)
		}
		if loc[1] != len(rule) {
			return nil, fmt.Errorf("%w: invalid rule: `%s`, unmatched substring: `%s`", ErrMappingRule, rule, rule[loc[1]:])
		}
		group := func(n int) (string, bool) {
			if loc[2*n] < 0 {
				return "", false
			}
			return rule[loc[2*n]:loc[2*n+1]], true
		}
		if _, ok := group(1); ok {
			m.rules = append(m.rules, mappingRule{isDefault: true})
			continue
		}
		pat, ok := group(2)
		if !ok {
			continue // an empty entry
		}
		repl, _ := group(4)
		flag, _ := group(6)
		full, err := regexp.Compile(`^(?:` + pat + `)$`)
		if err != nil {
			return nil, fmt.Errorf("%w: rule %s: %v", ErrMappingRule, rule, err)
		}
		re := regexp.MustCompile(pat) // compiles: full did
		m.rules = append(m.rules, mappingRule{
			source: pat, replacement: repl, full: full, re: re,
			template: javaReplacement(repl, re.NumSubexp()),
			lower:    flag == "L", upper: flag == "U",
		})
	}
	return m, nil
}

// javaReplacement converts a java.util.regex replacement ($n group
// references, \x literal x) into Go's Expand syntax, with Kafka's rule that
// a reference to a group the pattern does not have is literal text.
func javaReplacement(s string, groups int) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(s[i])
			}
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			// Java reads the longest group number not above the count.
			n := int(s[i+1] - '0')
			j := i + 2
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				next := n*10 + int(s[j]-'0')
				if next > groups {
					break
				}
				n = next
				j++
			}
			if n > groups {
				b.WriteString("$$")
				i++
				b.WriteByte(s[i])
				continue
			}
			fmt.Fprintf(&b, "${%d}", n)
			i = j - 1
		case c == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (r mappingRule) String() string {
	if r.isDefault {
		return "DEFAULT"
	}
	s := "RULE:" + r.source + "/" + r.replacement
	if r.lower {
		s += "/L"
	} else if r.upper {
		s += "/U"
	}
	return s
}

func (m *PrincipalMapper) String() string {
	parts := make([]string, len(m.rules))
	for i, r := range m.rules {
		parts[i] = r.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Name maps a DN: the first rule whose pattern matches the whole DN gives
// the name (the replacement applied, then lower- or upper-cased if /L or
// /U); DEFAULT gives the DN itself. No applicable rule is an error
// (wrapping ErrNoMatchingRule), and Kafka fails the connection then; an
// empty rule list applies to nothing (Kafka's default value is DEFAULT:
// DefaultPrincipalMapper).
func (m *PrincipalMapper) Name(dn string) (string, error) {
	for _, r := range m.rules {
		if r.isDefault {
			return dn, nil
		}
		if !r.full.MatchString(dn) {
			continue
		}
		out := r.re.ReplaceAllString(dn, r.template)
		switch {
		case r.lower:
			out = strings.ToLower(out)
		case r.upper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("%w: no rules apply to %s, rules %s", ErrNoMatchingRule, dn, m)
}

// DefaultPrincipalMapper is ssl.principal.mapping.rules=DEFAULT.
func DefaultPrincipalMapper() *PrincipalMapper {
	return &PrincipalMapper{rules: []mappingRule{{isDefault: true}}}
}

// SSLPrincipal builds the principal of a TLS connection as Kafka's
// DefaultKafkaPrincipalBuilder does: User:<mapped subject DN> of the peer's
// leaf certificate, or User:ANONYMOUS when the client sent none.
func SSLPrincipal(m *PrincipalMapper, peerCerts []*x509.Certificate) (Principal, error) {
	if len(peerCerts) == 0 {
		return Anonymous, nil
	}
	dn, err := SubjectDN(peerCerts[0])
	if err != nil {
		return Principal{}, err
	}
	if m == nil {
		m = DefaultPrincipalMapper()
	}
	name, err := m.Name(dn)
	if err != nil {
		return Principal{}, err
	}
	return User(name), nil
}
