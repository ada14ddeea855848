package broker

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

// featureUpdate builds an UpdateFeatures request of version v.
func featureUpdate(v int16, validateOnly bool, ups ...kmsg.UpdateFeaturesRequestFeatureUpdate) *kmsg.UpdateFeaturesRequest {
	req := kmsg.NewPtrUpdateFeaturesRequest()
	req.Version, req.ValidateOnly, req.FeatureUpdates = v, validateOnly, ups
	return req
}

func fu(name string, level int16, typ int8, allowDowngrade bool) kmsg.UpdateFeaturesRequestFeatureUpdate {
	u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
	u.Feature, u.MaxVersionLevel, u.UpgradeType, u.AllowDowngrade = name, level, typ, allowDowngrade
	return u
}

// finalized renders an ApiVersions response's features as
// "epoch: name=level ..." and "name:min-max ..." (supported).
func finalized(resp *kmsg.ApiVersionsResponse) (string, string) {
	f := fmt.Sprintf("%d:", resp.FinalizedFeaturesEpoch)
	for _, x := range resp.FinalizedFeatures {
		if x.MinVersionLevel != x.MaxVersionLevel {
			f += " bad-min-level"
		}
		f += fmt.Sprintf(" %s=%d", x.Name, x.MaxVersionLevel)
	}
	var s []string
	for _, x := range resp.SupportedFeatures {
		s = append(s, fmt.Sprintf("%s:%d-%d", x.Name, x.MinVersion, x.MaxVersion))
	}
	return f, strings.Join(s, " ")
}

// TestUpdateFeatures runs UpdateFeatures v0-v2 through the error cases
// and successful changes in order (each case sees the levels the ones
// before it left), checking the top-level error and message, the
// per-feature results, and the levels and epoch ApiVersions then shows;
// ApiVersions v3 leaves out supported features with minimum 0; a user
// without ALTER on the cluster is refused.
func TestUpdateFeatures(t *testing.T) {
	t.Parallel()
	b, _, _ := aclBroker(t)
	rc := b.raw(t)
	if r := rawScramLogin(t, rc, plainMechanism("admin", "admin-secret")); r.ErrorCode != 0 {
		t.Fatalf("admin login: %d", r.ErrorCode)
	}
	apiVersions := func(v int16) (string, string) {
		t.Helper()
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = v, "gregor-test", "1"
		return finalized(rc.do(req).(*kmsg.ApiVersionsResponse))
	}
	const supported = "eligible.leader.replicas.version:0-1 group.version:0-1 kraft.version:0-1 metadata.version:7-25 transaction.version:0-1"
	if f, s := apiVersions(4); f != "0: group.version=1 metadata.version=25" || s != supported {
		t.Fatalf("v4 before updates: %q %q", f, s)
	}
	if _, s := apiVersions(3); s != "metadata.version:7-25" {
		t.Fatalf("v3 supported features: %q", s)
	}
	if f, s := apiVersions(2); f != "-1:" || s != "" {
		t.Fatalf("v2 has features: %q %q", f, s)
	}

	const failed = "The update failed for all features since the following feature had an error: "
	for _, tc := range []struct {
		name    string
		req     *kmsg.UpdateFeaturesRequest
		code    int16
		msg     string // the top-level message starts with it
		results string // "feature:code ..." of the per-feature results
		after   string // finalized features afterwards
	}{
		{name: "unknown feature", req: featureUpdate(0, false, fu("sarama.unsupported.feature", 1, 0, false)),
			code: kerr.InvalidUpdateVersion.Code, msg: failed + "Invalid update version 1 for feature sarama.unsupported.feature. Local controller",
			after: "0: group.version=1 metadata.version=25"},
		{name: "v0 downgrade without allow_downgrade", req: featureUpdate(0, false, fu("group.version", 0, 0, false)),
			code: kerr.InvalidUpdateVersion.Code, msg: failed + "Invalid update version 0 for feature group.version. Can't downgrade",
			after: "0: group.version=1 metadata.version=25"},
		{name: "v0 upgrade with allow_downgrade", req: featureUpdate(0, false, fu("transaction.version", 1, 0, true)),
			code: kerr.InvalidUpdateVersion.Code, msg: failed + "Invalid update version 1 for feature transaction.version. Can't downgrade to a newer version.",
			after: "0: group.version=1 metadata.version=25"},
		{name: "v1 unknown upgrade type", req: featureUpdate(1, false, fu("transaction.version", 1, 0, false)),
			code: kerr.InvalidUpdateVersion.Code, msg: failed + "Invalid update version 1 for feature transaction.version. The controller does not support the given upgrade type.",
			after: "0: group.version=1 metadata.version=25"},
		{name: "v1 transaction.version 2 (KIP-890 part 2 not served)", req: featureUpdate(1, false, fu("transaction.version", 2, 1, false)),
			code: kerr.InvalidUpdateVersion.Code, msg: failed + "Invalid update version 2 for feature transaction.version. Local controller",
			after: "0: group.version=1 metadata.version=25"},
		{name: "v1 above the supported range", req: featureUpdate(1, false, fu("eligible.leader.replicas.version", 2, 1, false)),
			code: kerr.InvalidUpdateVersion.Code, msg: failed + "Invalid update version 2 for feature eligible.leader.replicas.version. Local controller",
			after: "0: group.version=1 metadata.version=25"},
		{name: "v2 metadata downgrade losing metadata", req: featureUpdate(2, false, fu("metadata.version", 20, 2, false)),
			code: kerr.InvalidUpdateVersion.Code, msg: failed + "Invalid metadata.version 20. Refusing to perform the requested downgrade",
			after: "0: group.version=1 metadata.version=25"},
		{name: "v1 one bad update fails all", req: featureUpdate(1, false, fu("transaction.version", 1, 1, false), fu("kraft.version", 1, 1, false)),
			code: kerr.InvalidUpdateVersion.Code, msg: failed + "Invalid update version 1 for feature kraft.version.",
			after: "0: group.version=1 metadata.version=25"},
		{name: "v1 feature named twice", req: featureUpdate(1, false, fu("transaction.version", 1, 1, false), fu("transaction.version", 0, 1, false)),
			code: kerr.InvalidRequest.Code, msg: "Feature transaction.version is named more than once",
			after: "0: group.version=1 metadata.version=25"},
		{name: "v1 validate only", req: featureUpdate(1, true, fu("transaction.version", 1, 1, false)),
			results: "transaction.version:0", after: "0: group.version=1 metadata.version=25"},
		{name: "v0 upgrades", req: featureUpdate(0, false, fu("transaction.version", 1, 0, false), fu("eligible.leader.replicas.version", 1, 0, false)),
			results: "transaction.version:0 eligible.leader.replicas.version:0",
			after:   "1: eligible.leader.replicas.version=1 group.version=1 metadata.version=25 transaction.version=1"},
		{name: "v0 allow_downgrade to 0", req: featureUpdate(0, false, fu("group.version", 0, 0, true)),
			results: "group.version:0",
			after:   "2: eligible.leader.replicas.version=1 metadata.version=25 transaction.version=1"},
		{name: "v1 unsafe downgrade", req: featureUpdate(1, false, fu("transaction.version", 0, 3, false)),
			results: "transaction.version:0",
			after:   "3: eligible.leader.replicas.version=1 metadata.version=25"},
		{name: "v2 safe metadata downgrade has no results", req: featureUpdate(2, false, fu("metadata.version", 24, 2, false)),
			after: "4: eligible.leader.replicas.version=1 metadata.version=24"},
		{name: "v2 upgrade", req: featureUpdate(2, false, fu("metadata.version", 25, 1, false), fu("group.version", 1, 1, false)),
			after: "5: eligible.leader.replicas.version=1 group.version=1 metadata.version=25"},
		{name: "v2 same levels", req: featureUpdate(2, false, fu("group.version", 1, 1, false)),
			after: "5: eligible.leader.replicas.version=1 group.version=1 metadata.version=25"},
	} {
		resp := rc.do(tc.req).(*kmsg.UpdateFeaturesResponse)
		msg := ""
		if resp.ErrorMessage != nil {
			msg = *resp.ErrorMessage
		}
		var res []string
		for _, r := range resp.Results {
			res = append(res, fmt.Sprintf("%s:%d", r.Feature, r.ErrorCode))
		}
		if resp.ErrorCode != tc.code || !strings.HasPrefix(msg, tc.msg) || (tc.msg == "") != (msg == "") || strings.Join(res, " ") != tc.results {
			t.Errorf("%s: error %d %q results %v, want %d %q %q", tc.name, resp.ErrorCode, msg, res, tc.code, tc.msg, tc.results)
		}
		if f, _ := apiVersions(4); f != tc.after {
			t.Errorf("%s: features %q, want %q", tc.name, f, tc.after)
		}
	}

	alice := b.raw(t)
	if r := rawScramLogin(t, alice, plainMechanism("alice", "alice-secret")); r.ErrorCode != 0 {
		t.Fatalf("alice login: %d", r.ErrorCode)
	}
	req := featureUpdate(1, false, fu("group.version", 0, 2, false))
	if resp := alice.do(req).(*kmsg.UpdateFeaturesResponse); resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(resp.Results) != 0 {
		t.Fatalf("alice without ALTER: error %d results %+v", resp.ErrorCode, resp.Results)
	}
	mustSetACLs(t, b.srv, []auth.ACL{{ResourceType: kmsg.ACLResourceTypeCluster, ResourceName: auth.ClusterName, PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationAlter, Permission: kmsg.ACLPermissionTypeAllow}})
	if resp := alice.do(req).(*kmsg.UpdateFeaturesResponse); resp.ErrorCode != 0 || len(resp.Results) != 1 || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("alice with ALTER: error %d results %+v", resp.ErrorCode, resp.Results)
	}
	if f, _ := apiVersions(4); f != "6: eligible.leader.replicas.version=1 metadata.version=25" {
		t.Fatalf("after alice's downgrade: %q", f)
	}
}
