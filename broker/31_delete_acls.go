package broker

// DeleteAcls (key 31), v0-v3.
//
// Removes from the controller quorum, in one batch, every ACL binding one
// of the filters selects, and answers per filter the bindings it selected
// (as Kafka's AclControlManager: a binding two filters select is listed
// under both). Filters are Kafka's: null strings and ANY enums match
// anything; pattern type ANY takes the name literally over both pattern
// types, MATCH selects what applies to the named resource (the literal
// name, the wildcard, every PREFIXED prefix). Without an authorizer every
// filter answers SECURITY_DISABLED; without ALTER on the cluster
// CLUSTER_AUTHORIZATION_FAILED; a filter with an unknown element
// INVALID_REQUEST. v0 has no pattern type (LITERAL). Authorized where the
// client connected, then forwarded to the active controller;
// read-your-writes: once acknowledged, this broker's authorizer no longer
// has the bindings.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
	"gregor/controller"
)

var deleteACLsHandler = handle(kmsg.DeleteACLs, 0, 3, func(s *deps, r *request, req *kmsg.DeleteACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	errs := make([]error, len(req.Filters))
	fail := func(err error) *kmsg.DeleteACLsResponse {
		for i := range errs {
			errs[i] = err
		}
		return fillDeleteACLs(resp, errs, nil)
	}
	if !s.authz.enabled() {
		return fail(kafkaErr(kerr.SecurityDisabled, noAuthorizerMsg)), nil
	}
	if !s.authorizeCluster(r, kmsg.ACLOperationAlter) {
		return fail(kafkaErr(kerr.ClusterAuthorizationFailed, kerr.ClusterAuthorizationFailed.Description)), nil
	}
	if fresp, ok := s.forwardIfNotController(r); ok {
		s.afterDeleteACLs(fresp)
		return fresp, nil
	}
	var matchers []func(controller.ACL) bool
	var at []int // the filter index of each matcher
	for i, f := range req.Filters {
		af := deleteFilter(f)
		if errs[i] = auth.ValidateFilter(af); errs[i] == nil {
			matchers = append(matchers, matcher(af))
			at = append(at, i)
		}
	}
	matched := make([][]controller.ACL, len(req.Filters))
	got, err := s.ctrl.DeleteACLs(matchers)
	for j, i := range at {
		if err != nil {
			errs[i] = err
			continue
		}
		matched[i] = got[j]
		for _, a := range got[j] {
			s.log.Info().Str("acl", authACLs([]controller.ACL{a})[0].String()).Msg("deleted acl")
		}
	}
	return fillDeleteACLs(resp, errs, matched), nil
})

func deleteFilter(f kmsg.DeleteACLsRequestFilter) auth.ACLFilter {
	return aclFilter(f.ResourceType, f.ResourceName, f.ResourcePatternType, f.Principal, f.Host, f.Operation, f.PermissionType)
}

// fillDeleteACLs appends one result per filter: its error, or the
// bindings it matched.
func fillDeleteACLs(resp *kmsg.DeleteACLsResponse, errs []error, matched [][]controller.ACL) *kmsg.DeleteACLsResponse {
	for i, err := range errs {
		res := kmsg.NewDeleteACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = aclError(err)
		if err == nil {
			for _, a := range matched[i] {
				m := kmsg.NewDeleteACLsResponseResultMatchingACL()
				m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
				m.Principal, m.Host = a.Principal, a.Host
				m.Operation, m.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
				res.MatchingACLs = append(res.MatchingACLs, m)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}

// afterDeleteACLs waits until this broker's metadata no longer has the
// bindings the controller acknowledged deleting.
func (s *deps) afterDeleteACLs(r kmsg.Response) {
	resp, ok := r.(*kmsg.DeleteACLsResponse)
	if !ok {
		return
	}
	s.awaitMetadata("DeleteAcls", func(snap *controller.Snapshot) bool {
		for _, res := range resp.Results {
			for _, m := range res.MatchingACLs {
				a := controller.ACL{ResourceType: int8(m.ResourceType), ResourceName: m.ResourceName, PatternType: int8(m.ResourcePatternType),
					Principal: m.Principal, Host: m.Host, Operation: int8(m.Operation), Permission: int8(m.PermissionType)}
				if res.ErrorCode == 0 && snap.ACLs().Has(a) {
					return false
				}
			}
		}
		return true
	})
}
