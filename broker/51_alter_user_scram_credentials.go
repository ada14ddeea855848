package broker

// AlterUserScramCredentials (key 51), v0.
//
// Deletes and upserts SCRAM credentials in the controller quorum with
// Kafka's rules (controller.AlterScramCredentials): a user named twice
// fails with DUPLICATE_RESOURCE, an unknown mechanism with
// UNSUPPORTED_SASL_MECHANISM, an empty name or iterations outside
// 4096..16384 with UNACCEPTABLE_CREDENTIAL, deleting a missing credential
// with RESOURCE_NOT_FOUND; the valid users change together. An upsertion
// carries the salt and the salted password; the stored and server keys
// are derived from it and the password never reaches the broker. Needs
// ALTER on the cluster once the authorizer is on (checked where the
// client connected; else CLUSTER_AUTHORIZATION_FAILED for every user).
// Forwarded to the active controller; read-your-writes: once
// acknowledged, this broker's metadata (SCRAM logins, Describe) has the
// change.

import (
	"bytes"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
	"gregor/controller"
)

var alterUserScramCredentialsHandler = handle(kmsg.AlterUserSCRAMCredentials, 0, 0, func(s *deps, r *request, req *kmsg.AlterUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationAlter) {
		var users []string
		for _, d := range req.Deletions {
			users = append(users, d.Name)
		}
		for _, u := range req.Upsertions {
			users = append(users, u.Name)
		}
		slices.Sort(users)
		for _, u := range slices.Compact(users) {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = u, kerr.ClusterAuthorizationFailed.Code
			res.ErrorMessage = kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Message)
			resp.Results = append(resp.Results, res)
		}
		return resp, nil
	}
	if fresp, ok := s.forwardIfNotController(r); ok {
		s.afterAlterScram(req, fresp)
		return fresp, nil
	}
	dels := make([]controller.ScramDeletion, 0, len(req.Deletions))
	for _, d := range req.Deletions {
		dels = append(dels, controller.ScramDeletion{User: d.Name, Mechanism: d.Mechanism})
	}
	ups := make([]controller.ScramUpsertion, 0, len(req.Upsertions))
	for _, u := range req.Upsertions {
		c := controller.ScramCredential{Mechanism: u.Mechanism, Iterations: u.Iterations, Salt: u.Salt}
		if h := auth.ScramHash(u.Mechanism); h == auth.ScramSHA256 || h == auth.ScramSHA512 {
			derived := auth.ScramCredentialFromSaltedPassword(h, u.Salt, u.SaltedPassword, int(u.Iterations))
			c.StoredKey, c.ServerKey = derived.StoredKey, derived.ServerKey
		}
		ups = append(ups, controller.ScramUpsertion{User: u.Name, Credential: c})
	}
	results, err := s.ctrl.AlterScramCredentials(dels, ups)
	if err != nil {
		users := map[string]bool{}
		for _, d := range dels {
			users[d.User] = true
		}
		for _, u := range ups {
			users[u.User] = true
		}
		for _, u := range slices.Sorted(maps.Keys(users)) {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode, res.ErrorMessage = u, errCode(err), errMessage(err)
			resp.Results = append(resp.Results, res)
		}
		return resp, nil
	}
	for _, sr := range results {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode, res.ErrorMessage = sr.User, errCode(sr.Err), errMessage(sr.Err)
		if sr.Err == nil {
			s.log.Info().Str("user", sr.User).Msg("altered scram credentials")
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
})

// afterAlterScram waits until this broker's metadata shows the changes
// the controller acknowledged: upserted credentials with the request's
// salt and iterations, deleted ones gone.
func (s *deps) afterAlterScram(req *kmsg.AlterUserSCRAMCredentialsRequest, r kmsg.Response) {
	resp, ok := r.(*kmsg.AlterUserSCRAMCredentialsResponse)
	if !ok {
		return
	}
	okUser := map[string]bool{}
	for _, res := range resp.Results {
		okUser[res.User] = res.ErrorCode == 0
	}
	s.awaitMetadata("AlterUserScramCredentials", func(snap *controller.Snapshot) bool {
		for _, d := range req.Deletions {
			if _, there := snap.ScramCredential(d.Name, d.Mechanism); okUser[d.Name] && there {
				return false
			}
		}
		for _, u := range req.Upsertions {
			c, there := snap.ScramCredential(u.Name, u.Mechanism)
			if okUser[u.Name] && (!there || c.Iterations != u.Iterations || !bytes.Equal(c.Salt, u.Salt)) {
				return false
			}
		}
		return true
	})
}
