package broker

// AlterClientQuotas (key 49), v0-v1.
//
// Sets and removes quota values of entities in the controller quorum with
// Kafka's rules (controller.AlterClientQuotas): an empty entity, an
// unknown or repeated entity type, ip combined with user or client-id, an
// unknown key or one that does not apply to the entity, a non-positive
// value or a fractional byte rate, an entity named twice: each answers
// INVALID_REQUEST with a message for its entry, and the valid entries
// change together. validate_only checks without changing. Needs
// ALTER_CONFIGS on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED for every entry). Forwarded to the active
// controller; read-your-writes: once acknowledged, this broker's metadata
// (Describe, enforcement) has the change.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var alterClientQuotasHandler = handle(kmsg.AlterClientQuotas, 0, 1, func(s *deps, r *request, req *kmsg.AlterClientQuotasRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	answer := func(e kmsg.AlterClientQuotasRequestEntry, code int16, msg *string) {
		entry := kmsg.NewAlterClientQuotasResponseEntry()
		entry.ErrorCode, entry.ErrorMessage = code, msg
		for _, ent := range e.Entity {
			re := kmsg.NewAlterClientQuotasResponseEntryEntity()
			re.Type, re.Name = ent.Type, ent.Name
			entry.Entity = append(entry.Entity, re)
		}
		resp.Entries = append(resp.Entries, entry)
	}
	if !s.authorizeCluster(r, kmsg.ACLOperationAlterConfigs) {
		for _, e := range req.Entries {
			answer(e, kerr.ClusterAuthorizationFailed.Code, kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Message))
		}
		return resp, nil
	}
	if fresp, ok := s.forwardIfNotController(r); ok {
		s.afterAlterClientQuotas(req, fresp)
		return fresp, nil
	}
	// Entries that parse go to the controller; errs holds each entry's
	// outcome by its index in the request.
	errs := make([]error, len(req.Entries))
	var alts []controller.QuotaAlteration
	var index []int
	for i, e := range req.Entries {
		ent, err := quotaEntityOf(e.Entity)
		if err != nil {
			errs[i] = err
			continue
		}
		a := controller.QuotaAlteration{Entity: ent}
		for _, op := range e.Ops {
			a.Ops = append(a.Ops, controller.QuotaOp{Key: op.Key, Value: op.Value, Remove: op.Remove})
		}
		alts = append(alts, a)
		index = append(index, i)
	}
	results, err := s.ctrl.AlterClientQuotas(alts, req.ValidateOnly)
	for j, i := range index {
		if err != nil {
			errs[i] = err
		} else {
			errs[i] = results[j]
		}
	}
	for i, e := range req.Entries {
		answer(e, errCode(errs[i]), errMessage(errs[i]))
		if errs[i] == nil && !req.ValidateOnly {
			s.log.Info().Interface("entity", e.Entity).Msg("altered client quotas")
		}
	}
	return resp, nil
})

// quotaRequestError is INVALID_REQUEST with Kafka's message: a malformed
// entity or filter of the client quota APIs.
type quotaRequestError struct{ msg string }

func (e quotaRequestError) Error() string { return e.msg }
func (e quotaRequestError) Unwrap() error { return controller.ErrInvalidRequest }

// quotaEntityOf converts a request's entity, refusing unknown and
// repeated entity types as Kafka does.
func quotaEntityOf(parts []kmsg.AlterClientQuotasRequestEntryEntity) (controller.QuotaEntity, error) {
	var e controller.QuotaEntity
	for _, p := range parts {
		if e.Side(p.Type).Set {
			return e, quotaRequestError{fmt.Sprintf("Duplicate %s entity type in client quota entity", p.Type)}
		}
		n := controller.QuotaName{Set: true, Default: p.Name == nil}
		if p.Name != nil {
			n.Name = *p.Name
		}
		if !e.SetSide(p.Type, n) {
			return e, quotaRequestError{"Unhandled client quota entity type: " + p.Type}
		}
	}
	return e, nil
}

// afterAlterClientQuotas waits until this broker's metadata shows the
// values the controller acknowledged.
func (s *deps) afterAlterClientQuotas(req *kmsg.AlterClientQuotasRequest, r kmsg.Response) {
	resp, ok := r.(*kmsg.AlterClientQuotasResponse)
	if !ok || req.ValidateOnly || len(resp.Entries) != len(req.Entries) {
		return
	}
	s.awaitMetadata("AlterClientQuotas", func(snap *controller.Snapshot) bool {
		for i, e := range req.Entries {
			if resp.Entries[i].ErrorCode != 0 {
				continue
			}
			ent, err := quotaEntityOf(e.Entity)
			if err != nil {
				continue
			}
			for _, op := range e.Ops {
				v, there := snap.ClientQuota(ent, op.Key)
				if op.Remove == there || !op.Remove && v != op.Value {
					return false
				}
			}
		}
		return true
	})
}
