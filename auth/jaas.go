package auth

import (
	"fmt"
	"strings"
)

// Login module class names Kafka's sasl.jaas.config lines name.
const (
	PlainLoginModule       = "org.apache.kafka.common.security.plain.PlainLoginModule"
	ScramLoginModule       = "org.apache.kafka.common.security.scram.ScramLoginModule"
	OAuthBearerLoginModule = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
)

// JAASEntry is one login module of a JAAS config:
// `<class> <flag> key=value ... ;`.
type JAASEntry struct {
	LoginModule string
	// Flag is REQUIRED, REQUISITE, SUFFICIENT or OPTIONAL.
	Flag    string
	Options map[string]string
}

// ParseJAAS parses a JAAS config value the way Kafka's JaasConfig does
// (java.io.StreamTokenizer rules): words of letters, digits, '.', '-', '_'
// and '$'; values quoted with " or ' (backslash escapes \n \t \r \b \f \a \v,
// octal \NNN, and \x for any other x) or bare words; // and /* */ comments;
// each entry ends with ';'. Errors name the problem and where.
func ParseJAAS(s string) ([]JAASEntry, error) {
	t := &jaasTokenizer{s: s}
	var entries []JAASEntry
	for {
		tok, err := t.next()
		if err != nil {
			return nil, err
		}
		if tok.kind == tokEOF {
			break
		}
		if tok.kind != tokWord {
			return nil, t.errorf(tok, "expected a login module class name, got %s", tok)
		}
		e := JAASEntry{LoginModule: tok.val, Options: map[string]string{}}
		flag, err := t.next()
		if err != nil {
			return nil, err
		}
		if flag.kind == tokEOF {
			return nil, t.errorf(flag, "login module control flag not specified")
		}
		if flag.kind != tokWord {
			return nil, t.errorf(flag, "login module control flag is not available, got %s", flag)
		}
		switch f := strings.ToUpper(flag.val); f {
		case "REQUIRED", "REQUISITE", "SUFFICIENT", "OPTIONAL":
			e.Flag = f
		default:
			return nil, t.errorf(flag, "invalid login module control flag %q", flag.val)
		}
		for {
			key, err := t.next()
			if err != nil {
				return nil, err
			}
			if key.kind == tokPunct && key.val == ";" {
				break
			}
			if key.kind == tokEOF {
				return nil, t.errorf(key, "entry for %s not terminated by semi-colon", e.LoginModule)
			}
			if key.kind != tokWord {
				return nil, t.errorf(key, "expected an option name, got %s", key)
			}
			eq, err := t.next()
			if err != nil {
				return nil, err
			}
			if eq.kind != tokPunct || eq.val != "=" {
				return nil, t.errorf(eq, "value not specified for key %q", key.val)
			}
			val, err := t.next()
			if err != nil {
				return nil, err
			}
			if val.kind != tokWord && val.kind != tokQuoted {
				return nil, t.errorf(val, "value not specified for key %q", key.val)
			}
			if _, dup := e.Options[key.val]; dup {
				return nil, t.errorf(key, "option %q given twice", key.val)
			}
			e.Options[key.val] = val.val
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: login module not specified", ErrJAAS)
	}
	return entries, nil
}

// ParseJAASSingle parses a sasl.jaas.config value, which Kafka requires to
// hold exactly one login module.
func ParseJAASSingle(s string) (JAASEntry, error) {
	entries, err := ParseJAAS(s)
	if err != nil {
		return JAASEntry{}, err
	}
	if len(entries) != 1 {
		return JAASEntry{}, fmt.Errorf("%w: contains %d login modules, should be 1 module", ErrJAAS, len(entries))
	}
	return entries[0], nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokQuoted
	tokPunct
)

type jaasToken struct {
	kind tokKind
	val  string
	pos  int
}

func (t jaasToken) String() string {
	switch t.kind {
	case tokEOF:
		return "end of input"
	case tokQuoted:
		return "quoted string"
	default:
		return fmt.Sprintf("%q", t.val)
	}
}

type jaasTokenizer struct {
	s string
	i int
}

func (t *jaasTokenizer) errorf(tok jaasToken, format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrJAAS, fmt.Sprintf(format, args...), tok.pos)
}

func isJAASWordByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	case c == '_', c == '$', c == '.', c == '-', c >= 0x80:
		return true
	}
	return false
}

func (t *jaasTokenizer) next() (jaasToken, error) {
	for t.i < len(t.s) {
		c := t.s[t.i]
		switch {
		case c <= ' ':
			t.i++
		case c == '/' && t.i+1 < len(t.s) && t.s[t.i+1] == '/':
			for t.i < len(t.s) && t.s[t.i] != '\n' && t.s[t.i] != '\r' {
				t.i++
			}
		case c == '/' && t.i+1 < len(t.s) && t.s[t.i+1] == '*':
			start := t.i
			end := strings.Index(t.s[t.i+2:], "*/")
			if end < 0 {
				return jaasToken{}, t.errorf(jaasToken{pos: start}, "unterminated /* comment")
			}
			t.i += 2 + end + 2
		case c == '"' || c == '\'':
			return t.quoted(c)
		case isJAASWordByte(c):
			start := t.i
			for t.i < len(t.s) && isJAASWordByte(t.s[t.i]) {
				t.i++
			}
			return jaasToken{kind: tokWord, val: t.s[start:t.i], pos: start}, nil
		default:
			t.i++
			return jaasToken{kind: tokPunct, val: string(c), pos: t.i - 1}, nil
		}
	}
	return jaasToken{kind: tokEOF, pos: len(t.s)}, nil
}

func (t *jaasTokenizer) quoted(q byte) (jaasToken, error) {
	start := t.i
	t.i++
	var b strings.Builder
	for t.i < len(t.s) {
		c := t.s[t.i]
		switch {
		case c == q:
			t.i++
			return jaasToken{kind: tokQuoted, val: b.String(), pos: start}, nil
		case c == '\n' || c == '\r':
			return jaasToken{}, t.errorf(jaasToken{pos: start}, "quoted string not closed before end of line")
		case c == '\\':
			t.i++
			if t.i >= len(t.s) {
				return jaasToken{}, t.errorf(jaasToken{pos: start}, "quoted string not closed")
			}
			e := t.s[t.i]
			t.i++
			switch e {
			case 'a':
				b.WriteByte(7)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'v':
				b.WriteByte('\v')
			case '0', '1', '2', '3', '4', '5', '6', '7':
				// Up to three octal digits, the value below 256 as Java's
				// StreamTokenizer reads them.
				v := int(e - '0')
				maxDigits := 2
				if e > '3' {
					maxDigits = 1
				}
				for range maxDigits {
					if t.i < len(t.s) && t.s[t.i] >= '0' && t.s[t.i] <= '7' {
						v = v*8 + int(t.s[t.i]-'0')
						t.i++
					}
				}
				b.WriteRune(rune(v))
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			t.i++
		}
	}
	return jaasToken{}, t.errorf(jaasToken{pos: start}, "quoted string not closed")
}
