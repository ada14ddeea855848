package auth

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's wildcards and fixed names.
const (
	WildcardResource  = "*"
	WildcardPrincipal = "User:*"
	WildcardHost      = "*"
	ClusterName       = "kafka-cluster"
)

// ACL is one ACL binding, with the wire enums of CreateAcls/DescribeAcls.
// Principal is "Type:Name" as Kafka stores it ("User:alice", "User:*").
type ACL struct {
	ResourceType kmsg.ACLResourceType
	ResourceName string
	PatternType  kmsg.ACLResourcePatternType // Literal or Prefixed
	Principal    string
	Host         string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

func (a ACL) String() string {
	return fmt.Sprintf("(resource=%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		a.ResourceType, a.PatternType, a.ResourceName, a.Principal, a.Host, a.Operation, a.Permission)
}

// ValidateACL checks a CreateAcls binding as Kafka does (AclApis and
// AclControlManager.validateNewAcl). The error wraps kerr.InvalidRequest;
// its text is the error_message for the creation result.
func ValidateACL(a ACL) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", kerr.InvalidRequest, fmt.Sprintf(format, args...))
	}
	switch a.ResourceType {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster,
		kmsg.ACLResourceTypeTransactionalId, kmsg.ACLResourceTypeDelegationToken, kmsg.ACLResourceTypeUser:
	default:
		return bad("Invalid resourceType %s", a.ResourceType)
	}
	if a.PatternType != kmsg.ACLResourcePatternTypeLiteral && a.PatternType != kmsg.ACLResourcePatternTypePrefixed {
		return bad("Invalid patternType %s", a.PatternType)
	}
	if a.Operation < kmsg.ACLOperationAll || a.Operation > kmsg.ACLOperationDescribeTokens {
		return bad("Invalid operation %s", a.Operation)
	}
	if a.Permission != kmsg.ACLPermissionTypeAllow && a.Permission != kmsg.ACLPermissionTypeDeny {
		return bad("Invalid permissionType %s", a.Permission)
	}
	if a.ResourceName == "" {
		return bad("Invalid empty resource name")
	}
	if a.ResourceType == kmsg.ACLResourceTypeCluster && a.ResourceName != ClusterName {
		return bad("The only valid name for the CLUSTER resource is %s", ClusterName)
	}
	if i := strings.IndexByte(a.Principal, ':'); i < 0 {
		return bad("Could not parse principal from `%s` (no colon is present separating the principal type from the principal name)", a.Principal)
	}
	if a.Host == "" {
		return bad("Invalid empty host")
	}
	return nil
}

// ACLFilter selects ACLs for DescribeAcls and DeleteAcls. A nil string
// field matches anything; ResourceType Any, Operation Any and Permission
// Any match anything. PatternType Any matches both pattern types with the
// name taken literally; Match selects the ACLs that apply to the named
// resource (the same name LITERAL, the wildcard LITERAL, and every
// PREFIXED prefix of the name).
type ACLFilter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// ValidateFilter rejects a filter with unknown elements as Kafka does; the
// error wraps kerr.InvalidRequest.
func ValidateFilter(f ACLFilter) error {
	if f.ResourceType < kmsg.ACLResourceTypeAny || f.ResourceType > kmsg.ACLResourceTypeUser ||
		f.PatternType < kmsg.ACLResourcePatternTypeAny || f.PatternType > kmsg.ACLResourcePatternTypePrefixed {
		return fmt.Errorf("%w: Unknown patternFilter", kerr.InvalidRequest)
	}
	if f.Operation < kmsg.ACLOperationAny || f.Operation > kmsg.ACLOperationDescribeTokens ||
		f.Permission < kmsg.ACLPermissionTypeAny || f.Permission > kmsg.ACLPermissionTypeAllow {
		return fmt.Errorf("%w: Unknown entryFilter", kerr.InvalidRequest)
	}
	return nil
}

// Matches reports whether the filter selects a (Kafka's
// ResourcePatternFilter.matches and AccessControlEntryFilter.matches).
func (f ACLFilter) Matches(a ACL) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != a.ResourceType {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny, kmsg.ACLResourcePatternTypeMatch:
	default:
		if f.PatternType != a.PatternType {
			return false
		}
	}
	if f.ResourceName != nil {
		name := *f.ResourceName
		if f.PatternType == kmsg.ACLResourcePatternTypeMatch {
			switch a.PatternType {
			case kmsg.ACLResourcePatternTypeLiteral:
				if a.ResourceName != name && a.ResourceName != WildcardResource {
					return false
				}
			case kmsg.ACLResourcePatternTypePrefixed:
				if !strings.HasPrefix(name, a.ResourceName) {
					return false
				}
			default:
				return false
			}
		} else if a.ResourceName != name {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != a.Principal {
		return false
	}
	if f.Host != nil && *f.Host != a.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != a.Operation {
		return false
	}
	if f.Permission != kmsg.ACLPermissionTypeAny && f.Permission != a.Permission {
		return false
	}
	return true
}

// FilterACLs returns the ACLs of acls that f selects.
func FilterACLs(acls []ACL, f ACLFilter) []ACL {
	var out []ACL
	for _, a := range acls {
		if f.Matches(a) {
			out = append(out, a)
		}
	}
	return out
}

// AuthorizerConfig is the authorizer's static configuration.
type AuthorizerConfig struct {
	// SuperUsers are allowed everything (Kafka's super.users; see
	// ParseSuperUsers).
	SuperUsers []Principal
	// AllowEveryoneIfNoACLFound allows an action on a resource that no
	// ACL at all applies to (allow.everyone.if.no.acl.found, default
	// false).
	AllowEveryoneIfNoACLFound bool
}

// Authorizer evaluates actions against an immutable ACL snapshot with
// Kafka's StandardAuthorizer rules. SetACLs swaps in a new snapshot;
// Authorize never blocks on it. Safe for concurrent use.
type Authorizer struct {
	super map[string]bool
	allow bool
	snap  atomic.Pointer[aclIndex]
}

// NewAuthorizer returns an authorizer with no ACLs.
func NewAuthorizer(cfg AuthorizerConfig) *Authorizer {
	a := &Authorizer{super: map[string]bool{}, allow: cfg.AllowEveryoneIfNoACLFound}
	for _, p := range cfg.SuperUsers {
		a.super[p.String()] = true
	}
	a.snap.Store(buildIndex(nil))
	return a
}

// SetACLs replaces the ACL snapshot. The authorizer keeps acls; the caller
// must not modify the slice afterwards.
func (a *Authorizer) SetACLs(acls []ACL) { a.snap.Store(buildIndex(acls)) }

// ACLs returns the current snapshot (not to be modified).
func (a *Authorizer) ACLs() []ACL { return a.snap.Load().all }

// aclIndex is one immutable snapshot, per resource type.
type aclIndex struct {
	all   []ACL
	types map[kmsg.ACLResourceType]*typeIndex
}

type typeIndex struct {
	literal  map[string][]*ACL // including the wildcard "*"
	prefixed map[string][]*ACL
	// prefixLens are the distinct lengths of the PREFIXED names, ascending.
	prefixLens []int
}

func buildIndex(acls []ACL) *aclIndex {
	ix := &aclIndex{all: acls, types: map[kmsg.ACLResourceType]*typeIndex{}}
	for i := range acls {
		acl := &acls[i]
		t := ix.types[acl.ResourceType]
		if t == nil {
			t = &typeIndex{literal: map[string][]*ACL{}, prefixed: map[string][]*ACL{}}
			ix.types[acl.ResourceType] = t
		}
		switch acl.PatternType {
		case kmsg.ACLResourcePatternTypeLiteral:
			t.literal[acl.ResourceName] = append(t.literal[acl.ResourceName], acl)
		case kmsg.ACLResourcePatternTypePrefixed:
			if _, ok := t.prefixed[acl.ResourceName]; !ok {
				t.prefixLens = append(t.prefixLens, len(acl.ResourceName))
			}
			t.prefixed[acl.ResourceName] = append(t.prefixed[acl.ResourceName], acl)
		}
	}
	for _, t := range ix.types {
		sort.Ints(t.prefixLens)
		t.prefixLens = dedupInts(t.prefixLens)
	}
	return ix
}

func dedupInts(s []int) []int {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Authorize reports whether principal, connecting from host (an IP address
// as text), may perform op on the resource (a literal name), by Kafka's
// rules: super users may do anything; a DENY that matches wins over any
// ALLOW; an ALLOW of READ, WRITE, DELETE or ALTER also allows DESCRIBE and
// an ALLOW of ALTER_CONFIGS also allows DESCRIBE_CONFIGS (a DENY implies
// nothing); ALL matches every operation; principals match exactly or by
// User:*, hosts exactly or by *; resources by the same literal name, the
// literal *, or a PREFIXED prefix. When no ACL applies to the resource at
// all, the answer is AllowEveryoneIfNoACLFound.
func (a *Authorizer) Authorize(principal Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if op == kmsg.ACLOperationAny || op == kmsg.ACLOperationUnknown {
		return false
	}
	ps := principal.String()
	if a.super[ps] {
		return true
	}
	t := a.snap.Load().types[rt]
	if t == nil {
		return a.allow
	}
	var r matchResult
	r.check(t.literal[name], ps, host, op)
	if !r.deny && name != WildcardResource {
		r.check(t.literal[WildcardResource], ps, host, op)
	}
	for _, n := range t.prefixLens {
		if r.deny || n > len(name) {
			break
		}
		r.check(t.prefixed[name[:n]], ps, host, op)
	}
	switch {
	case r.deny:
		return false
	case r.allowed:
		return true
	case !r.resourceACLs:
		return a.allow
	}
	return false
}

type matchResult struct {
	resourceACLs bool
	allowed      bool
	deny         bool
}

func (r *matchResult) check(acls []*ACL, principal, host string, op kmsg.ACLOperation) {
	for _, acl := range acls {
		r.resourceACLs = true
		if acl.Principal != principal && acl.Principal != WildcardPrincipal {
			continue
		}
		if acl.Host != WildcardHost && acl.Host != host {
			continue
		}
		if !opMatches(acl, op) {
			continue
		}
		if acl.Permission == kmsg.ACLPermissionTypeDeny {
			r.deny = true
			return
		}
		if acl.Permission == kmsg.ACLPermissionTypeAllow {
			r.allowed = true
		}
	}
}

func opMatches(acl *ACL, op kmsg.ACLOperation) bool {
	if acl.Operation == kmsg.ACLOperationAll || acl.Operation == op {
		return true
	}
	if acl.Permission != kmsg.ACLPermissionTypeAllow {
		return false
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		switch acl.Operation {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return acl.Operation == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// AuthorizeByResourceType reports whether principal, from host, may do op
// on some resource of type rt, as Kafka's Authorizer.authorizeByResourceType
// decides it (KIP-679; InitProducerId without a transactional id asks it
// for WRITE on topics): allowed when Authorize allows a made-up literal
// name (super users, allow.everyone.if.no.acl.found, a matching wildcard
// or prefix); denied by a matching DENY on the literal wildcard; else
// allowed by a matching ALLOW on the wildcard, or on a literal or prefix
// that no matching DENY of the same literal, or of a PREFIXED prefix of
// it, covers. Only op itself and ALL count: implied operations do not.
func (a *Authorizer) AuthorizeByResourceType(principal Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	if a.Authorize(principal, host, op, rt, "hardcode") {
		return true
	}
	ps := principal.String()
	t := a.snap.Load().types[rt]
	if t == nil {
		return false
	}
	applies := func(acl *ACL) bool {
		return (acl.Host == host || acl.Host == WildcardHost) &&
			(acl.Principal == ps || acl.Principal == WildcardPrincipal) &&
			(acl.Operation == op || acl.Operation == kmsg.ACLOperationAll)
	}
	denied := func(acls []*ACL) bool {
		for _, acl := range acls {
			if applies(acl) && acl.Permission == kmsg.ACLPermissionTypeDeny {
				return true
			}
		}
		return false
	}
	allowed := func(acls []*ACL) bool {
		for _, acl := range acls {
			if applies(acl) && acl.Permission == kmsg.ACLPermissionTypeAllow {
				return true
			}
		}
		return false
	}
	if denied(t.literal[WildcardResource]) {
		return false
	}
	if allowed(t.literal[WildcardResource]) {
		return true
	}
	prefixDenied := func(name string) bool {
		for _, n := range t.prefixLens {
			if n > len(name) {
				break
			}
			if denied(t.prefixed[name[:n]]) {
				return true
			}
		}
		return false
	}
	for name, acls := range t.literal {
		if name != WildcardResource && allowed(acls) && !denied(acls) && !prefixDenied(name) {
			return true
		}
	}
	for name, acls := range t.prefixed {
		if allowed(acls) && !prefixDenied(name) {
			return true
		}
	}
	return false
}
