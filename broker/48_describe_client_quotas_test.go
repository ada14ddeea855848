package broker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

func qe(parts ...string) kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	for i := 0; i < len(parts); i += 2 {
		c := kadm.ClientQuotaEntityComponent{Type: parts[i]}
		if parts[i+1] != "<default>" {
			c.Name = kmsg.StringPtr(parts[i+1])
		}
		e = append(e, c)
	}
	return e
}

// TestClientQuotaAPIs sets quotas with kadm.AlterClientQuotas and walks
// DescribeClientQuotas's match types and strict, then Kafka's
// validation errors of both APIs.
func TestClientQuotaAPIs(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	adm := b.admin()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	set := func(e kadm.ClientQuotaEntity, key string, v float64) kadm.AlterClientQuotaEntry {
		return kadm.AlterClientQuotaEntry{Entity: e, Ops: []kadm.AlterClientQuotaOp{{Key: key, Value: v}}}
	}
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		set(qe("user", "alice"), "producer_byte_rate", 1024),
		set(qe("user", "alice", "client-id", "app"), "consumer_byte_rate", 2048),
		set(qe("user", "<default>"), "request_percentage", 50),
		set(qe("client-id", "<default>"), "producer_byte_rate", 10),
		set(qe("user", "<default>", "client-id", "<default>"), "controller_mutation_rate", 5),
		set(qe("ip", "127.0.0.1"), "connection_creation_rate", 100),
		set(qe("user", "bad"), "producer_byte_rate", 1.5),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if (i == 6) != (r.Err != nil) {
			t.Fatalf("entry %d (%v): %v %s", i, r.Entity, r.Err, r.ErrMessage)
		}
	}
	if !errors.Is(res[6].Err, kerr.InvalidRequest) || !strings.Contains(res[6].ErrMessage, "must be a Long") {
		t.Fatalf("fractional byte rate: %v %q", res[6].Err, res[6].ErrMessage)
	}
	exact := func(typ, name string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchName: kmsg.StringPtr(name), MatchType: kmsg.QuotasMatchTypeExact}
	}
	def := func(typ string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: kmsg.QuotasMatchTypeDefault}
	}
	anyOf := func(typ string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: kmsg.QuotasMatchTypeAny}
	}
	for _, tc := range []struct {
		name   string
		strict bool
		comps  []kadm.DescribeClientQuotaComponent
		want   []string // entities as kadm prints them
		errMsg string
	}{
		{name: "all", want: []string{"client-id=<default>", "ip=127.0.0.1", "user=<default>", "user=<default>, client-id=<default>", "user=alice", "user=alice, client-id=app"}},
		{name: "exact user", comps: []kadm.DescribeClientQuotaComponent{exact("user", "alice")}, want: []string{"user=alice", "user=alice, client-id=app"}},
		{name: "exact user strict", strict: true, comps: []kadm.DescribeClientQuotaComponent{exact("user", "alice")}, want: []string{"user=alice"}},
		{name: "default user", comps: []kadm.DescribeClientQuotaComponent{def("user")}, want: []string{"user=<default>", "user=<default>, client-id=<default>"}},
		{name: "any user any client strict", strict: true, comps: []kadm.DescribeClientQuotaComponent{anyOf("user"), anyOf("client-id")}, want: []string{"user=<default>, client-id=<default>", "user=alice, client-id=app"}},
		{name: "any client", comps: []kadm.DescribeClientQuotaComponent{anyOf("client-id")}, want: []string{"client-id=<default>", "user=<default>, client-id=<default>", "user=alice, client-id=app"}},
		{name: "ip", comps: []kadm.DescribeClientQuotaComponent{anyOf("ip")}, want: []string{"ip=127.0.0.1"}},
		{name: "no match", comps: []kadm.DescribeClientQuotaComponent{exact("user", "bob")}},
		{name: "unknown type", comps: []kadm.DescribeClientQuotaComponent{anyOf("group")}, errMsg: "Custom entity type 'group' not supported"},
		{name: "duplicate type", comps: []kadm.DescribeClientQuotaComponent{anyOf("user"), def("user")}, errMsg: "Duplicate"},
		{name: "ip with user", comps: []kadm.DescribeClientQuotaComponent{anyOf("user"), anyOf("ip")}, errMsg: "IP filter component"},
		{name: "exact without name", comps: []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: kmsg.QuotasMatchTypeExact}}, errMsg: "null match"},
	} {
		got, err := adm.DescribeClientQuotas(ctx, tc.strict, tc.comps)
		if tc.errMsg != "" {
			var em *kadm.ErrAndMessage
			if !errors.As(err, &em) || !errors.Is(err, kerr.InvalidRequest) || !strings.Contains(em.ErrMessage, tc.errMsg) {
				t.Fatalf("%s: %v, want INVALID_REQUEST %q", tc.name, err, tc.errMsg)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var names []string
		for _, q := range got {
			names = append(names, strings.Trim(q.Entity.String(), "{}"))
		}
		slices.Sort(names)
		if !slices.Equal(names, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, names, tc.want)
		}
	}
	got, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{exact("user", "alice")})
	if err != nil || len(got) != 1 || len(got[0].Values) != 1 || got[0].Values[0] != (kadm.ClientQuotaValue{Key: "producer_byte_rate", Value: 1024}) {
		t.Fatalf("alice's values: %+v %v", got, err)
	}

	// validate_only changes nothing; removal removes; bad entities fail.
	if _, err := adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: qe("user", "alice"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Remove: true}}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{exact("user", "alice")}); len(got) != 1 {
		t.Fatalf("validate_only removed: %+v", got)
	}
	res, err = adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: qe("user", "alice"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Remove: true}}},
		set(qe("group", "g"), "producer_byte_rate", 1),
		set(qe("user", "a", "user", "b"), "producer_byte_rate", 1),
		set(nil, "producer_byte_rate", 1),
		set(qe("ip", "127.0.0.1"), "producer_byte_rate", 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"", "Unhandled client quota entity type: group", "Duplicate", "empty", "Invalid configuration key"} {
		r := res[i]
		if want == "" && r.Err != nil || want != "" && (!errors.Is(r.Err, kerr.InvalidRequest) || !strings.Contains(r.ErrMessage, want)) {
			t.Fatalf("entry %d: %v %q, want %q", i, r.Err, r.ErrMessage, want)
		}
	}
	if got, _ := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{exact("user", "alice")}); len(got) != 0 {
		t.Fatalf("after removing alice's only quota: %+v", got)
	}
}

// TestClientQuotaAPIsAuthorized: with the authorizer on, a user without
// DESCRIBE_CONFIGS / ALTER_CONFIGS on the cluster gets
// CLUSTER_AUTHORIZATION_FAILED; a super user is served.
func TestClientQuotaAPIsAuthorized(t *testing.T) {
	t.Parallel()
	b := startScramBroker(t, nil, "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer", "super.users=User:admin")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := kadm.NewClient(b.client(scramOpt(auth.MechanismScramSHA512, "admin", "admin-secret")))
	alice := kadm.NewClient(b.client(plainAuth("alice", "alice-secret")))
	entry := []kadm.AlterClientQuotaEntry{{Entity: qe("user", "alice"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1e6}}}}
	if _, err := alice.DescribeClientQuotas(ctx, false, nil); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describe: %v", err)
	}
	if res, err := alice.AlterClientQuotas(ctx, entry); err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice alter: %+v %v", res, err)
	}
	if res, err := admin.AlterClientQuotas(ctx, entry); err != nil || res[0].Err != nil {
		t.Fatalf("admin alter: %+v %v", res, err)
	}
	if got, err := admin.DescribeClientQuotas(ctx, false, nil); err != nil || len(got) != 1 {
		t.Fatalf("admin describe: %+v %v", got, err)
	}
}
