package controller

// ACL bindings, kept as Kafka's controller keeps them (AccessControlEntryRecord,
// RemoveAccessControlEntryRecord; AclControlManager's rules): a set of
// bindings, each a resource pattern and an access control entry. The
// broker validates bindings and matches filters (auth.ValidateACL,
// auth.ACLFilter); the controller stores and replicates the set.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// ACL record types (the range 10-11 taken in records.go).
const (
	// recACL adds the binding ACL (a binding already present is refused).
	recACL recordType = 10
	// recRemoveACL removes the binding ACL.
	recRemoveACL recordType = 11
)

// ACL is one binding with the wire enums of the ACL APIs (kmsg's
// ACLResourceType, ACLResourcePatternType, ACLOperation and
// ACLPermissionType as int8). Principal is "Type:Name". Comparable: equal
// bindings are the same binding.
type ACL struct {
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

// ACLSet is the immutable set of ACL bindings of a snapshot. A snapshot
// whose batch changed no ACL shares its predecessor's set, so a reader
// can cache what it derives from a set by its pointer.
type ACLSet struct {
	list []ACL // sorted by compareACL
	has  map[ACL]bool
}

var emptyACLSet = &ACLSet{has: map[ACL]bool{}}

func newACLSet(m map[ACL]bool) *ACLSet {
	s := &ACLSet{list: slices.SortedFunc(maps.Keys(m), compareACL), has: m}
	return s
}

// List returns the bindings, sorted; the caller must not modify it.
func (s *ACLSet) List() []ACL { return s.list }

// Has reports whether a is in the set.
func (s *ACLSet) Has(a ACL) bool { return s.has[a] }

// Len is the number of bindings.
func (s *ACLSet) Len() int { return len(s.list) }

func compareACL(a, b ACL) int {
	return cmp.Or(cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.PatternType, b.PatternType),
		strings.Compare(a.ResourceName, b.ResourceName), strings.Compare(a.Principal, b.Principal),
		strings.Compare(a.Host, b.Host), cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Permission, b.Permission))
}

// ACLs returns the snapshot's ACL bindings (never nil).
func (s *Snapshot) ACLs() *ACLSet {
	if s.acls == nil {
		return emptyACLSet
	}
	return s.acls
}

// CreateACLs adds the bindings, which the caller validated, in one atomic
// batch. As Kafka's AclControlManager, a binding that already exists, or
// that the request names twice, succeeds without a second record. Needs
// the active controller.
func (c *Controller) CreateACLs(acls []ACL) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return err
	}
	set := c.snap.Load().ACLs()
	seen := map[ACL]bool{}
	var recs []record
	for _, a := range acls {
		if set.Has(a) || seen[a] {
			continue
		}
		seen[a] = true
		recs = append(recs, record{Type: recACL, ACL: &a})
	}
	return c.commitLocked(recs)
}

// DeleteACLs removes, in one atomic batch, every binding that one of the
// filters selects, and returns per filter the bindings it selected (a
// binding two filters select is listed under both, removed once, as
// Kafka's AclControlManager does). Needs the active controller.
func (c *Controller) DeleteACLs(filters []func(ACL) bool) ([][]ACL, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return nil, err
	}
	set := c.snap.Load().ACLs()
	out := make([][]ACL, len(filters))
	removed := map[ACL]bool{}
	var recs []record
	for i, match := range filters {
		for _, a := range set.List() {
			if !match(a) {
				continue
			}
			out[i] = append(out[i], a)
			if !removed[a] {
				removed[a] = true
				recs = append(recs, record{Type: recRemoveACL, ACL: &a})
			}
		}
	}
	if err := c.commitLocked(recs); err != nil {
		return nil, err
	}
	return out, nil
}

// applyACL applies an ACL record to the builder.
func (b *builder) applyACL(r *record) error {
	if r.ACL == nil || r.ACL.Principal == "" || r.ACL.ResourceName == "" {
		return fmt.Errorf("controller: acl record %d without a binding", r.Type)
	}
	if b.aclDirty == nil {
		b.aclDirty = map[ACL]bool{}
		b.aclNext = maps.Clone(b.old.ACLs().has)
	}
	a := *r.ACL
	switch r.Type {
	case recACL:
		if b.aclNext[a] {
			return fmt.Errorf("controller: acl record for existing binding %+v", a)
		}
		b.aclNext[a] = true
	case recRemoveACL:
		if !b.aclNext[a] {
			return fmt.Errorf("controller: remove record for missing binding %+v", a)
		}
		delete(b.aclNext, a)
	}
	b.aclDirty[a] = true
	return nil
}

// finishACLs publishes the batch's ACL set into the next snapshot.
func (b *builder) finishACLs(s *Snapshot) {
	if b.aclDirty != nil {
		s.acls = newACLSet(b.aclNext)
	}
}

// aclDBKey is a binding's key in bucketACLs (schema.go): its JSON form,
// which is deterministic for the struct.
func aclDBKey(a ACL) ([]byte, error) { return json.Marshal(a) }

// persistACLs writes the bindings the batch changed.
func (b *builder) persistACLs(tx *bolt.Tx, next *Snapshot) error {
	bk := tx.Bucket(bucketACLs)
	for a := range b.aclDirty {
		k, err := aclDBKey(a)
		if err != nil {
			return err
		}
		if next.ACLs().Has(a) {
			err = bk.Put(k, nil)
		} else {
			err = bk.Delete(k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// persistAllACLs rewrites the whole bucket from s.
func persistAllACLs(tx *bolt.Tx, s *Snapshot) error {
	bk, err := recreateBucket(tx, bucketACLs)
	if err != nil {
		return err
	}
	for _, a := range s.ACLs().List() {
		k, err := aclDBKey(a)
		if err != nil {
			return err
		}
		if err := bk.Put(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// loadACLs reads the bucket into s.
func loadACLs(tx *bolt.Tx, s *Snapshot) error {
	m := map[ACL]bool{}
	if err := tx.Bucket(bucketACLs).ForEach(func(k, _ []byte) error {
		var a ACL
		if err := json.Unmarshal(k, &a); err != nil {
			return fmt.Errorf("decode acl %q: %w", k, err)
		}
		m[a] = true
		return nil
	}); err != nil {
		return err
	}
	s.acls = newACLSet(m)
	return nil
}

// aclSnapshot lists s's bindings for the Raft snapshot, sorted.
func aclSnapshot(s *Snapshot) []ACL { return s.ACLs().List() }

// restoreACLs fills s from a Raft snapshot's list.
func restoreACLs(s *Snapshot, list []ACL) {
	m := make(map[ACL]bool, len(list))
	for _, a := range list {
		m[a] = true
	}
	s.acls = newACLSet(m)
}
