package broker

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/auth"
)

// httpGet fetches base+path with Basic credentials (none when user is
// empty) and returns the status, the WWW-Authenticate header and the body.
func httpGet(t *testing.T, base, path, user, pass string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

// securedConsoleBroker starts a SASL broker (PLAIN users admin and alice,
// SCRAM admin) with the console and the authorizer, admin a super user;
// topics a and b hold 3 records each, groups ga and gb have committed 1
// on them, alice may READ topic a and DESCRIBE group ga, and carol is a
// SCRAM-SHA-256 user with no ACLs.
func securedConsoleBroker(t *testing.T, extra ...string) string {
	t.Helper()
	b := startScramBroker(t, nil, append([]string{"http.listeners=http://127.0.0.1:0", "authorizer.class.name=gregor",
		"super.users=User:admin", "connection.failed.authentication.delay.ms=0"}, extra...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := b.client(scramOpt(auth.MechanismScramSHA512, "admin", "admin-secret"))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "a", "b"); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"a", "b"} {
		for i := range 3 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(topic + "-v" + string(rune('0'+i)))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, g := range []string{"ga", "gb"} {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "a", Partition: 0, At: 1, LeaderEpoch: -1})
		offs.Add(kadm.Offset{Topic: "b", Partition: 0, At: 1, LeaderEpoch: -1})
		if _, err := adm.CommitOffsets(ctx, g, offs); err != nil {
			t.Fatal(err)
		}
	}
	acls := kadm.NewACLs().Allow("User:alice").Topics("a").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	gacl := kadm.NewACLs().Allow("User:alice").Groups("ga").Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral)
	for _, bld := range []*kadm.ACLBuilder{acls, gacl} {
		res, err := adm.CreateACLs(ctx, bld)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create acl: %v", r.Err)
			}
		}
	}
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "carol-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil {
		t.Fatal(err)
	}
	return "http://" + b.srv.HTTPAddr().String()
}

// TestConsoleAuth: with SASL users the console and /metrics need HTTP
// Basic credentials of a PLAIN or SCRAM user, and each user sees what its
// ACLs allow.
func TestConsoleAuth(t *testing.T) {
	t.Parallel()
	base := securedConsoleBroker(t)

	// No or wrong credentials: 401 with a Basic challenge.
	for _, c := range []struct{ path, user, pass string }{
		{"/", "", ""}, {"/topics", "", ""}, {"/metrics", "", ""}, {"/static/console.css", "", ""},
		{"/topics", "alice", "wrong"}, {"/topics", "admin", "wrong"}, {"/topics", "carol", "wrong"},
		{"/topics", "nobody", "alice-secret"}, {"/topics", "alice", ""},
	} {
		code, challenge, _ := httpGet(t, base, c.path, c.user, c.pass)
		if code != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Basic ") {
			t.Errorf("%s as %q/%q: status %d, WWW-Authenticate %q; want 401 with a Basic challenge", c.path, c.user, c.pass, code, challenge)
		}
	}
	if code, _, _ := httpGet(t, base, "/healthz", "", ""); code != 200 {
		t.Errorf("/healthz without credentials: %d, want 200", code)
	}

	// The SCRAM user: its credential reaches the metadata shortly after
	// AlterUserScramCredentials answered.
	waitFor(t, "carol's SCRAM login", 10*time.Second, func() bool {
		code, _, _ := httpGet(t, base, "/topics", "carol", "carol-pw")
		return code == 200
	})
	if _, _, body := httpGet(t, base, "/topics", "carol", "carol-pw"); strings.Contains(body, `href="/topics/a"`) || strings.Contains(body, `href="/topics/b"`) {
		t.Errorf("carol (no ACLs) sees topics:\n%s", body)
	}

	type want struct {
		path   string
		code   int
		has    []string
		hasNot []string
	}
	for _, u := range []struct {
		user, pass string
		pages      []want
	}{
		{"alice", "alice-secret", []want{ // PLAIN, READ on a, DESCRIBE on ga
			{"/topics", 200, []string{`href="/topics/a"`}, []string{`href="/topics/b"`}},
			{"/topics/a", 200, []string{`id="topic-name">a<`}, nil},
			{"/topics/b", 403, nil, nil},
			{"/topics/nonexistent", 403, nil, nil},
			{"/topics/a/messages?partition=0&offset=0", 200, []string{`data-offset="0"`, `data-offset="2"`, "a-v2"}, nil},
			{"/topics/b/messages?partition=0&offset=0", 403, nil, nil},
			{"/groups", 200, []string{`href="/groups/ga"`}, []string{`href="/groups/gb"`}},
			{"/groups/ga", 200, []string{`id="total-lag">2<`, `data-topic="a"`}, []string{`data-topic="b"`}},
			{"/groups/gb", 403, nil, nil},
			{"/api/groups/gb", 403, nil, nil},
			{"/", 403, nil, nil},
			{"/metrics", 200, []string{"go_goroutines"}, nil},
		}},
		{"admin", "admin-secret", []want{ // super user, PLAIN password
			{"/topics", 200, []string{`href="/topics/a"`, `href="/topics/b"`}, nil},
			{"/topics/b/messages?partition=0&offset=0", 200, []string{`data-offset="2"`, "b-v2"}, nil},
			{"/groups", 200, []string{`href="/groups/ga"`, `href="/groups/gb"`}, nil},
			{"/", 200, []string{`id="topic-count">`}, nil},
		}},
	} {
		for _, pg := range u.pages {
			code, _, body := httpGet(t, base, pg.path, u.user, u.pass)
			if code != pg.code {
				t.Errorf("%s as %s: status %d, want %d: %.300s", pg.path, u.user, code, pg.code, body)
				continue
			}
			for _, s := range pg.has {
				if !strings.Contains(body, s) {
					t.Errorf("%s as %s: missing %q", pg.path, u.user, s)
				}
			}
			for _, s := range pg.hasNot {
				if strings.Contains(body, s) {
					t.Errorf("%s as %s: shows %q", pg.path, u.user, s)
				}
			}
		}
	}
}

// TestConsoleAuthMetricsOpen: http.metrics.auth=false leaves /metrics
// open while the console still needs credentials.
func TestConsoleAuthMetricsOpen(t *testing.T) {
	t.Parallel()
	b := startScramBroker(t, nil, "http.listeners=http://127.0.0.1:0", "http.metrics.auth=false")
	base := "http://" + b.srv.HTTPAddr().String()
	if code, _, _ := httpGet(t, base, "/metrics", "", ""); code != 200 {
		t.Errorf("/metrics without credentials: %d, want 200", code)
	}
	if code, _, _ := httpGet(t, base, "/topics", "", ""); code != http.StatusUnauthorized {
		t.Errorf("/topics without credentials: %d, want 401", code)
	}
	// A right password opens the console.
	if code, _, _ := httpGet(t, base, "/", "admin", "admin-secret"); code != 200 {
		t.Errorf("/ as admin: %d, want 200", code)
	}
}

// TestHTTPSListener: an https:// HTTP listener serves TLS with the SSL
// listener's key store, the console behind Basic credentials over it;
// https without any TLS listener fails the start.
func TestHTTPSListener(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	b := startBroker(t, tlsOverrides(pki, "SSL", "http.listeners=https://127.0.0.1:0",
		"sasl.enabled.mechanisms=PLAIN", "plain.sasl.jaas.config="+testPlainJAAS)...)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.client(nil)}, Timeout: 10 * time.Second}
	base := "https://" + b.srv.HTTPAddr().String()
	for _, c := range []struct {
		path, user, pass string
		code             int
	}{
		{"/healthz", "", "", 200},
		{"/topics", "", "", http.StatusUnauthorized},
		{"/topics", "alice", "alice-secret", 200},
	} {
		req, _ := http.NewRequest("GET", base+c.path, nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s over https: %v", c.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code || resp.TLS == nil {
			t.Errorf("%s as %q: status %d (tls %v), want %d over TLS", c.path, c.user, resp.StatusCode, resp.TLS != nil, c.code)
		}
	}
	if resp, err := http.Get("http://" + b.srv.HTTPAddr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain http to the https listener answered 200")
		}
	}

	cfg, err := Load("", nil, []string{"log.dirs=" + t.TempDir(), "listeners=PLAINTEXT://127.0.0.1:0", "http.listeners=https://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, zerolog.Nop()); err == nil {
		t.Fatal("https without a TLS listener started")
	} else if !strings.Contains(err.Error(), "https needs an SSL or SASL_SSL listener") {
		t.Errorf("error %q does not say https needs a TLS listener", err)
	}
}
