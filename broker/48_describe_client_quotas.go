package broker

// DescribeClientQuotas (key 48), v0-v1.
//
// Answers from this broker's metadata, as Kafka's brokers do: every entity
// with quotas that matches all filter components (entity types user,
// client-id, ip; match EXACT a name, DEFAULT the default entity, ANY any
// name or the default). strict leaves out entities that have sides the
// filter does not name. A bad filter (unknown entity or match type, a
// type twice, ip with user or client-id, EXACT without a name, DEFAULT
// with one) answers INVALID_REQUEST with a message. Needs DESCRIBE_CONFIGS
// on the cluster once the authorizer is on (else
// CLUSTER_AUTHORIZATION_FAILED).

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var describeClientQuotasHandler = handle(kmsg.DescribeClientQuotas, 0, 1, func(s *deps, r *request, req *kmsg.DescribeClientQuotasRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !s.authorizeCluster(r, kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Message)
		return resp, nil
	}
	if err := validateQuotaFilter(req.Components); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		return resp, nil
	}
	all := s.ctrl.Snapshot().ClientQuotas()
	var matched []controller.QuotaEntity
	for e := range all {
		if quotaFilterMatches(req.Components, req.Strict, e) {
			matched = append(matched, e)
		}
	}
	slices.SortFunc(matched, compareQuotaEntities)
	for _, e := range matched {
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, side := range quotaEntitySides(e) {
			ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = side.typ, side.name
			entry.Entity = append(entry.Entity, ent)
		}
		vals := all[e]
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, vals[k]
			entry.Values = append(entry.Values, v)
		}
		resp.Entries = append(resp.Entries, entry)
	}
	return resp, nil
})

// quotaEntityTypes are the entity types, in the order entities list them.
var quotaEntityTypes = []string{controller.QuotaEntityUser, controller.QuotaEntityClientID, controller.QuotaEntityIP}

type quotaSide struct {
	typ  string
	name *string // nil for the default entity
}

// quotaEntitySides lists e's sides in wire form.
func quotaEntitySides(e controller.QuotaEntity) []quotaSide {
	var out []quotaSide
	for _, typ := range quotaEntityTypes {
		n := e.Side(typ)
		if !n.Set {
			continue
		}
		side := quotaSide{typ: typ}
		if !n.Default {
			side.name = kmsg.StringPtr(n.Name)
		}
		out = append(out, side)
	}
	return out
}

func compareQuotaEntities(a, b controller.QuotaEntity) int {
	for _, typ := range quotaEntityTypes {
		x, y := a.Side(typ), b.Side(typ)
		if c := cmp.Or(cmp.Compare(boolInt(x.Set), boolInt(y.Set)), cmp.Compare(boolInt(!x.Default), boolInt(!y.Default)), cmp.Compare(x.Name, y.Name)); c != 0 {
			return c
		}
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// validateQuotaFilter checks a filter as Kafka's broker does.
func validateQuotaFilter(cs []kmsg.DescribeClientQuotasRequestComponent) error {
	seen := map[string]bool{}
	for _, c := range cs {
		if !slices.Contains(quotaEntityTypes, c.EntityType) {
			return quotaRequestError{fmt.Sprintf("Custom entity type '%s' not supported", c.EntityType)}
		}
		if seen[c.EntityType] {
			return quotaRequestError{fmt.Sprintf("Duplicate %s filter component entity type", c.EntityType)}
		}
		seen[c.EntityType] = true
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return quotaRequestError{"Unexpected null match for exact match type"}
			}
		case kmsg.QuotasMatchTypeDefault:
			if c.Match != nil {
				return quotaRequestError{"Unexpected match for default match type"}
			}
		case kmsg.QuotasMatchTypeAny:
		default:
			return quotaRequestError{fmt.Sprintf("Unexpected match type: %d", c.MatchType)}
		}
	}
	if seen[controller.QuotaEntityIP] && (seen[controller.QuotaEntityUser] || seen[controller.QuotaEntityClientID]) {
		return quotaRequestError{"Invalid entity filter component combination, IP filter component should not be used with user or clientId filter component."}
	}
	return nil
}

// quotaFilterMatches reports whether e matches every component, and with
// strict, has no side the components do not name.
func quotaFilterMatches(cs []kmsg.DescribeClientQuotasRequestComponent, strict bool, e controller.QuotaEntity) bool {
	named := map[string]bool{}
	for _, c := range cs {
		named[c.EntityType] = true
		n := e.Side(c.EntityType)
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if !n.Set || n.Default || n.Name != *c.Match {
				return false
			}
		case kmsg.QuotasMatchTypeDefault:
			if !n.Set || !n.Default {
				return false
			}
		default: // ANY
			if !n.Set {
				return false
			}
		}
	}
	if strict {
		for _, typ := range quotaEntityTypes {
			if e.Side(typ).Set && !named[typ] {
				return false
			}
		}
	}
	return true
}
