package auth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseJAAS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want []JAASEntry
		err  string
	}{
		{"kafka plain", kafkaPlainJAAS, []JAASEntry{{PlainLoginModule, "REQUIRED", map[string]string{
			"username": "admin", "password": "admin-secret", "user_admin": "admin-secret", "user_alice": "alice-secret"}}}, ""},
		{"escapes and quotes", `M optional a="x\"y\\z\n" b='single "q"' c=bare-word.1 d="\101\0";`,
			[]JAASEntry{{"M", "OPTIONAL", map[string]string{"a": "x\"y\\z\n", "b": `single "q"`, "c": "bare-word.1", "d": "A\x00"}}}, ""},
		{"comments and newlines", "// first\nM /* flag */ Sufficient\n  k=\"v\"\n;", []JAASEntry{{"M", "SUFFICIENT", map[string]string{"k": "v"}}}, ""},
		{"two modules", `A required; B requisite x="1";`, []JAASEntry{
			{"A", "REQUIRED", map[string]string{}}, {"B", "REQUISITE", map[string]string{"x": "1"}}}, ""},
		{"empty", "  ", nil, "login module not specified"},
		{"no flag", "M", nil, "control flag not specified"},
		{"bad flag", "M mandatory;", nil, `invalid login module control flag "mandatory"`},
		{"no semicolon", `M required a="b"`, nil, "not terminated by semi-colon"},
		{"no value", `M required a=;`, nil, `value not specified for key "a"`},
		{"no equals", `M required a "b";`, nil, `value not specified for key "a"`},
		{"unterminated quote", `M required a="b;`, nil, "quoted string not closed"},
		{"quote across line", "M required a=\"b\n\";", nil, "before end of line"},
		{"unterminated comment", `M required /* a="b";`, nil, "unterminated /* comment"},
		{"duplicate option", `M required a="1" a="2";`, nil, `option "a" given twice`},
		{"punct key", `M required ="1";`, nil, `expected an option name, got "="`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseJAAS(tc.in)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrJAAS) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v err %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestPlainUsersFromJAASErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`org.apache.kafka.common.security.scram.ScramLoginModule required user_a="b";`,
		kafkaPlainJAAS + " " + kafkaPlainJAAS,
	} {
		if _, err := PlainUsersFromJAAS(in); !errors.Is(err, ErrJAAS) {
			t.Errorf("%q: err %v", in, err)
		}
	}
}
