package broker

// CreateAcls (key 30), v0-v3.
//
// Adds ACL bindings to the controller quorum, as Kafka's AclApis and
// AclControlManager do: without an authorizer every creation answers
// SECURITY_DISABLED; without ALTER on the cluster
// CLUSTER_AUTHORIZATION_FAILED; a binding with an unknown or ANY/MATCH
// element, an empty resource name, a CLUSTER name other than
// kafka-cluster, a principal without a type or an empty host answers
// INVALID_REQUEST with Kafka's message; the valid bindings are added in
// one batch (an existing one succeeds without change). v0 has no pattern
// type (LITERAL). Authorized where the client connected, then forwarded to
// the active controller; read-your-writes: once acknowledged, this
// broker's authorizer has the bindings.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
	"gregor/controller"
)

var createACLsHandler = handle(kmsg.CreateACLs, 0, 3, func(s *deps, r *request, req *kmsg.CreateACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	errs := make([]error, len(req.Creations))
	fail := func(err error) *kmsg.CreateACLsResponse {
		for i := range errs {
			errs[i] = err
		}
		return fillCreateACLs(resp, errs)
	}
	if !s.authz.enabled() {
		return fail(kafkaErr(kerr.SecurityDisabled, noAuthorizerMsg)), nil
	}
	if !s.authorizeCluster(r, kmsg.ACLOperationAlter) {
		return fail(kafkaErr(kerr.ClusterAuthorizationFailed, kerr.ClusterAuthorizationFailed.Description)), nil
	}
	if fresp, ok := s.forwardIfNotController(r); ok {
		s.afterCreateACLs(req, fresp)
		return fresp, nil
	}
	var valid []controller.ACL
	for i, c := range req.Creations {
		a := creationACL(c)
		if errs[i] = auth.ValidateACL(a); errs[i] == nil {
			valid = append(valid, controllerACL(a))
		}
	}
	if err := s.ctrl.CreateACLs(valid); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	} else {
		for _, a := range valid {
			s.log.Info().Str("acl", authACLs([]controller.ACL{a})[0].String()).Msg("created acl")
		}
	}
	return fillCreateACLs(resp, errs), nil
})

// fillCreateACLs appends one result per creation with its error.
func fillCreateACLs(resp *kmsg.CreateACLsResponse, errs []error) *kmsg.CreateACLsResponse {
	for _, err := range errs {
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = aclError(err)
		resp.Results = append(resp.Results, res)
	}
	return resp
}

func creationACL(c kmsg.CreateACLsRequestCreation) auth.ACL {
	return auth.ACL{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: c.ResourcePatternType,
		Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
}

// afterCreateACLs waits until this broker's metadata has the bindings the
// controller acknowledged.
func (s *deps) afterCreateACLs(req *kmsg.CreateACLsRequest, r kmsg.Response) {
	resp, ok := r.(*kmsg.CreateACLsResponse)
	if !ok || len(resp.Results) != len(req.Creations) {
		return
	}
	s.awaitMetadata("CreateAcls", func(snap *controller.Snapshot) bool {
		for i, c := range req.Creations {
			if resp.Results[i].ErrorCode == 0 && !snap.ACLs().Has(controllerACL(creationACL(c))) {
				return false
			}
		}
		return true
	})
}
