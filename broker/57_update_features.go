package broker

// UpdateFeatures (key 57), v0-v2.
//
// Changes cluster-wide finalized feature levels (KIP-584) in the
// controller quorum with the rules of Kafka's KRaft controller
// (controller.UpdateFeatures): an unknown feature, a level outside the
// supported range, a downgrade without a downgrade upgrade_type (v0:
// allow_downgrade false), an upgrade with one, a metadata.version
// downgrade that could lose metadata, or a kraft.version change fails the
// whole request with INVALID_UPDATE_VERSION; a feature named twice is
// INVALID_REQUEST. As Kafka's controller answers: a failure is only the
// top-level error ("The update failed for all features since ...") with
// no per-feature results; success lists every feature with NONE in v0-v1,
// and v2 has no results at all. v1+ validate_only checks without changing.
// Needs ALTER on the cluster once the authorizer is on (else the
// top-level CLUSTER_AUTHORIZATION_FAILED). Forwarded to the active
// controller; read-your-writes: once acknowledged, this broker's
// ApiVersions shows the new levels.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var updateFeaturesHandler = handle(kmsg.UpdateFeatures, 0, 2, func(s *deps, r *request, req *kmsg.UpdateFeaturesRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Message)
		return resp, nil
	}
	if fresp, ok := s.forwardIfNotController(r); ok {
		s.afterUpdateFeatures(req, fresp)
		return fresp, nil
	}
	updates := featureUpdatesOf(req)
	if err := s.ctrl.UpdateFeatures(updates, req.ValidateOnly); err != nil {
		resp.ErrorCode = errCode(err)
		msg := err.Error()
		if resp.ErrorCode == kerr.InvalidUpdateVersion.Code {
			msg = "The update failed for all features since the following feature had an error: " + msg
		}
		resp.ErrorMessage = &msg
		return resp, nil
	}
	if req.Version <= 1 {
		for _, u := range req.FeatureUpdates {
			res := kmsg.NewUpdateFeaturesResponseResult()
			res.Feature = u.Feature
			resp.Results = append(resp.Results, res)
		}
	}
	if !req.ValidateOnly {
		for _, u := range updates {
			s.log.Info().Str("feature", u.Name).Int16("level", u.Level).Msg("updated finalized feature")
		}
	}
	return resp, nil
})

// featureUpdatesOf converts the request's updates. v0 has no
// upgrade_type: allow_downgrade stands for SAFE_DOWNGRADE, as in Kafka's
// UpdateFeaturesRequest.getFeature.
func featureUpdatesOf(req *kmsg.UpdateFeaturesRequest) []controller.FeatureUpdate {
	out := make([]controller.FeatureUpdate, 0, len(req.FeatureUpdates))
	for _, u := range req.FeatureUpdates {
		typ := controller.UpgradeType(u.UpgradeType)
		if req.Version == 0 {
			typ = controller.UpgradeTypeUpgrade
			if u.AllowDowngrade {
				typ = controller.UpgradeTypeSafeDowngrade
			}
		}
		out = append(out, controller.FeatureUpdate{Name: u.Feature, Level: u.MaxVersionLevel, Type: typ})
	}
	return out
}

// afterUpdateFeatures waits until this broker's metadata shows the levels
// the controller acknowledged.
func (s *deps) afterUpdateFeatures(req *kmsg.UpdateFeaturesRequest, r kmsg.Response) {
	resp, ok := r.(*kmsg.UpdateFeaturesResponse)
	if !ok || req.ValidateOnly || resp.ErrorCode != 0 {
		return
	}
	s.awaitMetadata("UpdateFeatures", func(snap *controller.Snapshot) bool {
		for _, u := range req.FeatureUpdates {
			if snap.FeatureLevel(u.Feature) != u.MaxVersionLevel {
				return false
			}
		}
		return true
	})
}
