package broker

// DescribeUserScramCredentials (key 50), v0.
//
// Answers from this broker's metadata, as Kafka's brokers answer from
// their metadata cache: each user's mechanisms and iteration counts
// (never salts or keys). No users (null or empty) means every user with a
// credential, sorted by name. A user named twice answers
// DUPLICATE_RESOURCE once, an unknown one RESOURCE_NOT_FOUND, with
// Kafka's messages. Needs DESCRIBE on the cluster once the authorizer is
// on (else CLUSTER_AUTHORIZATION_FAILED at the top and for every user).

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var describeUserScramCredentialsHandler = handle(kmsg.DescribeUserSCRAMCredentials, 0, 0, func(s *deps, r *request, req *kmsg.DescribeUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationDescribe) {
		code := kerr.ClusterAuthorizationFailed.Code
		msg := kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Message)
		resp.ErrorCode, resp.ErrorMessage = code, msg
		for range req.Users {
			res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			res.ErrorCode, res.ErrorMessage = code, msg
			resp.Results = append(resp.Results, res)
		}
		return resp, nil
	}
	all := s.ctrl.Snapshot().ScramUsers()
	var names []string
	count := map[string]int{}
	if len(req.Users) == 0 {
		for u := range all {
			names = append(names, u)
		}
		slices.Sort(names)
	}
	for _, u := range req.Users {
		if count[u.Name]++; count[u.Name] == 1 {
			names = append(names, u.Name)
		}
	}
	for _, name := range names {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = name
		creds, ok := all[name]
		switch {
		case count[name] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + name)
		case !ok:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist: " + name)
		default:
			for _, c := range creds {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = c.Mechanism, c.Iterations
				res.CredentialInfos = append(res.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
})
