package broker

// DescribeAcls (key 29), v0-v3.
//
// Answers from this broker's metadata (the controller snapshot its
// authorizer reads), as Kafka's brokers answer from their authorizer: the
// bindings the filter selects, grouped by resource pattern, sorted by
// resource type, pattern type and name. Filters are Kafka's (see
// DeleteAcls). Without an authorizer the answer is SECURITY_DISABLED;
// without DESCRIBE on the cluster CLUSTER_AUTHORIZATION_FAILED; a filter
// with an unknown element INVALID_REQUEST. v0 has no pattern type
// (LITERAL).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

var describeACLsHandler = handle(kmsg.DescribeACLs, 0, 3, func(s *deps, r *request, req *kmsg.DescribeACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	f := aclFilter(req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType)
	var err error
	switch {
	case !s.authz.enabled():
		err = kafkaErr(kerr.SecurityDisabled, noAuthorizerOnBrokerMsg)
	case !s.authorizeCluster(r, kmsg.ACLOperationDescribe):
		err = kafkaErr(kerr.ClusterAuthorizationFailed, kerr.ClusterAuthorizationFailed.Description)
	default:
		err = auth.ValidateFilter(f)
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = aclError(err)
		return resp, nil
	}
	// The controller's list is sorted by resource type, pattern type and
	// name first, so one resource's bindings are adjacent.
	for _, a := range auth.FilterACLs(authACLs(s.ctrl.Snapshot().ACLs().List()), f) {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != a.ResourceType || resp.Resources[n-1].ResourcePatternType != a.PatternType ||
			resp.Resources[n-1].ResourceName != a.ResourceName {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = a.ResourceType, a.ResourceName, a.PatternType
			resp.Resources = append(resp.Resources, res)
			n++
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, e)
	}
	return resp, nil
})
