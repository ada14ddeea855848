package controller

// SCRAM credentials, kept as Kafka keeps them (UserScramCredentialRecord,
// RemoveUserScramCredentialRecord; ScramControlManager's rules): per user
// and mechanism the salt, the stored key, the server key and the
// iteration count. The password itself is never stored.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// SCRAM record types (the range 8-9 taken in records.go).
const (
	// recScramCredential upserts ScramUser's credential Scram.
	recScramCredential recordType = 8
	// recRemoveScramCredential removes ScramUser's credential for
	// ScramMechanism.
	recRemoveScramCredential recordType = 9
)

// SCRAM mechanisms, numbered as Kafka's ScramMechanism types (the
// mechanism field of the SCRAM credential APIs).
const (
	ScramSHA256 int8 = 1
	ScramSHA512 int8 = 2
)

// Kafka's SCRAM iteration bounds (ScramMechanism.minIterations for both
// mechanisms, ScramControlManager.MAX_ITERATIONS).
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// Sentinels of the SCRAM credential APIs; each maps to the Kafka error of
// its name. Errors wrapping them carry Kafka's message as their text.
var (
	ErrResourceNotFound         = errors.New("controller: resource not found")
	ErrDuplicateResource        = errors.New("controller: duplicate resource")
	ErrUnsupportedSaslMechanism = errors.New("controller: unsupported sasl mechanism")
	ErrUnacceptableCredential   = errors.New("controller: unacceptable credential")
)

// kafkaError is a sentinel with Kafka's own message as its text.
type kafkaError struct {
	sentinel error
	msg      string
}

func (e *kafkaError) Error() string { return e.msg }
func (e *kafkaError) Unwrap() error { return e.sentinel }

// ScramCredential is one user's credential for one mechanism. Reachable
// from a Snapshot, it is immutable.
type ScramCredential struct {
	Mechanism  int8   `json:"mechanism"`
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
	Iterations int32  `json:"iterations"`
}

// scramKey keys a credential in the snapshot and in bbolt.
type scramKey struct {
	User      string
	Mechanism int8
}

// ScramCredential returns user's credential for mechanism.
func (s *Snapshot) ScramCredential(user string, mechanism int8) (ScramCredential, bool) {
	c, ok := s.scram[scramKey{user, mechanism}]
	return c, ok
}

// ScramUsers returns every user with a SCRAM credential, sorted, each with
// its credentials sorted by mechanism.
func (s *Snapshot) ScramUsers() map[string][]ScramCredential {
	out := map[string][]ScramCredential{}
	for k, c := range s.scram {
		out[k.User] = append(out[k.User], c)
	}
	for _, cs := range out {
		slices.SortFunc(cs, func(a, b ScramCredential) int { return cmp.Compare(a.Mechanism, b.Mechanism) })
	}
	return out
}

// ScramDeletion removes one user's credential for one mechanism.
type ScramDeletion struct {
	User      string
	Mechanism int8
}

// ScramUpsertion sets one user's credential; Credential.Mechanism names
// the mechanism. The broker derives the stored and server keys from the
// salted password the client sent.
type ScramUpsertion struct {
	User       string
	Credential ScramCredential
}

// ScramResult is the outcome for one user of AlterScramCredentials. Err
// wraps one of the SCRAM sentinels (its text is Kafka's message), or is
// nil.
type ScramResult struct {
	User string
	Err  error
}

func scramErr(sentinel error, msg string) error { return &kafkaError{sentinel, msg} }

func knownScramMechanism(m int8) bool { return m == ScramSHA256 || m == ScramSHA512 }

// validateScramUser checks what both deletions and upsertions need.
func validateScramUser(user string, mechanism int8) error {
	if user == "" {
		return scramErr(ErrUnacceptableCredential, "Username must not be empty")
	}
	if !knownScramMechanism(mechanism) {
		return scramErr(ErrUnsupportedSaslMechanism, "Unknown SCRAM mechanism")
	}
	return nil
}

// ValidateScramUpsertion checks an upsertion's user, mechanism and
// iteration count as Kafka's controller does.
func ValidateScramUpsertion(u ScramUpsertion) error {
	if err := validateScramUser(u.User, u.Credential.Mechanism); err != nil {
		return err
	}
	switch {
	case u.Credential.Iterations < ScramMinIterations:
		return scramErr(ErrUnacceptableCredential, "Too few iterations")
	case u.Credential.Iterations > ScramMaxIterations:
		return scramErr(ErrUnacceptableCredential, "Too many iterations")
	}
	return nil
}

// AlterScramCredentials applies deletions and upsertions in one atomic
// batch, with Kafka's rules: a user named twice in the request (in either
// list) fails with DUPLICATE_RESOURCE, an unknown mechanism with
// UNSUPPORTED_SASL_MECHANISM, an empty name or iterations outside
// 4096..16384 with UNACCEPTABLE_CREDENTIAL, deleting a credential that
// does not exist with RESOURCE_NOT_FOUND. Users that pass are changed;
// the others are not. Results list each user once, in the order they
// first appear. The error is for the whole request (not the controller,
// closed). Needs the active controller.
func (c *Controller) AlterScramCredentials(dels []ScramDeletion, ups []ScramUpsertion) ([]ScramResult, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return nil, err
	}
	snap := c.snap.Load()
	var order []string
	failed := map[string]error{}
	pending := map[string]*record{}
	see := func(user string, valid func() error, rec record) {
		if _, done := failed[user]; done {
			return
		}
		if _, dup := pending[user]; dup {
			delete(pending, user)
			failed[user] = scramErr(ErrDuplicateResource, "A user credential cannot be altered twice in the same request")
			return
		}
		order = append(order, user)
		if err := valid(); err != nil {
			failed[user] = err
			return
		}
		pending[user] = &rec
	}
	for _, d := range dels {
		see(d.User, func() error {
			if err := validateScramUser(d.User, d.Mechanism); err != nil {
				return err
			}
			if _, ok := snap.ScramCredential(d.User, d.Mechanism); !ok {
				return scramErr(ErrResourceNotFound, "Attempt to delete a user credential that does not exist")
			}
			return nil
		}, record{Type: recRemoveScramCredential, ScramUser: d.User, ScramMechanism: d.Mechanism})
	}
	for _, u := range ups {
		cred := cloneScram(u.Credential)
		see(u.User, func() error { return ValidateScramUpsertion(u) },
			record{Type: recScramCredential, ScramUser: u.User, Scram: &cred})
	}
	var recs []record
	for _, user := range order {
		if r := pending[user]; r != nil {
			recs = append(recs, *r)
		}
	}
	if err := c.commitLocked(recs); err != nil {
		return nil, err
	}
	out := make([]ScramResult, 0, len(order))
	for _, user := range order {
		out = append(out, ScramResult{User: user, Err: failed[user]})
	}
	return out, nil
}

func cloneScram(c ScramCredential) ScramCredential {
	c.Salt = slices.Clone(c.Salt)
	c.StoredKey = slices.Clone(c.StoredKey)
	c.ServerKey = slices.Clone(c.ServerKey)
	return c
}

// bootstrapScramRecords are the records of Config.BootstrapScram, written
// with the cluster ID when the cluster is first created (as `kafka-storage
// format --add-scram` does); invalid entries were refused by Validate.
func (cfg *Config) bootstrapScramRecords() []record {
	var recs []record
	for _, u := range cfg.BootstrapScram {
		cred := cloneScram(u.Credential)
		recs = append(recs, record{Type: recScramCredential, ScramUser: u.User, Scram: &cred})
	}
	return recs
}

// validateBootstrapScram checks Config.BootstrapScram.
func (cfg *Config) validateBootstrapScram() error {
	seen := map[scramKey]bool{}
	for _, u := range cfg.BootstrapScram {
		if err := ValidateScramUpsertion(u); err != nil {
			return fmt.Errorf("controller: bootstrap scram credential for %q: %w", u.User, err)
		}
		k := scramKey{u.User, u.Credential.Mechanism}
		if seen[k] {
			return fmt.Errorf("controller: bootstrap scram credential for %q given twice", u.User)
		}
		seen[k] = true
	}
	return nil
}

// applyScram applies a SCRAM record to the builder.
func (b *builder) applyScram(r *record) error {
	if !knownScramMechanism(r.scramMechanism()) || r.ScramUser == "" {
		return fmt.Errorf("controller: scram record for user %q with mechanism %d", r.ScramUser, r.scramMechanism())
	}
	k := scramKey{r.ScramUser, r.scramMechanism()}
	if b.scramDirty == nil {
		b.scramDirty = map[scramKey]bool{}
		b.next.scram = maps.Clone(b.old.scram)
		if b.next.scram == nil {
			b.next.scram = map[scramKey]ScramCredential{}
		}
	}
	switch r.Type {
	case recScramCredential:
		b.next.scram[k] = cloneScram(*r.Scram)
	case recRemoveScramCredential:
		if _, ok := b.next.scram[k]; !ok {
			return fmt.Errorf("controller: remove record for missing scram credential of %q", r.ScramUser)
		}
		delete(b.next.scram, k)
	}
	b.scramDirty[k] = true
	return nil
}

func (r *record) scramMechanism() int8 {
	if r.Type == recScramCredential {
		if r.Scram == nil {
			return 0
		}
		return r.Scram.Mechanism
	}
	return r.ScramMechanism
}

// scramDBKey is a credential's key in bucketScram (schema.go).
func scramDBKey(k scramKey) []byte { return append([]byte{byte(k.Mechanism)}, k.User...) }

// persistScram writes the credentials the batch changed.
func (b *builder) persistScram(tx *bolt.Tx, next *Snapshot) error {
	bk := tx.Bucket(bucketScram)
	for k := range b.scramDirty {
		c, ok := next.scram[k]
		if !ok {
			if err := bk.Delete(scramDBKey(k)); err != nil {
				return err
			}
			continue
		}
		if err := putScram(bk, k, c); err != nil {
			return err
		}
	}
	return nil
}

// putScram stores one credential under its bucket key.
func putScram(bk *bolt.Bucket, k scramKey, c ScramCredential) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return bk.Put(scramDBKey(k), v)
}

// persistAllScram rewrites the whole bucket from s.
func persistAllScram(tx *bolt.Tx, s *Snapshot) error {
	bk, err := recreateBucket(tx, bucketScram)
	if err != nil {
		return err
	}
	for k, c := range s.scram {
		if err := putScram(bk, k, c); err != nil {
			return err
		}
	}
	return nil
}

// loadScram reads the bucket into s.
func loadScram(tx *bolt.Tx, s *Snapshot) error {
	s.scram = map[scramKey]ScramCredential{}
	return tx.Bucket(bucketScram).ForEach(func(k, v []byte) error {
		if len(k) < 2 {
			return fmt.Errorf("bad scram key %x", k)
		}
		var c ScramCredential
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("decode scram credential %x: %w", k, err)
		}
		s.scram[scramKey{User: string(k[1:]), Mechanism: int8(k[0])}] = c
		return nil
	})
}

// snapScram is a credential in the Raft snapshot.
type snapScram struct {
	User string `json:"user"`
	ScramCredential
}

// scramSnapshot lists s's credentials for the Raft snapshot, sorted.
func scramSnapshot(s *Snapshot) []snapScram {
	out := make([]snapScram, 0, len(s.scram))
	for k, c := range s.scram {
		out = append(out, snapScram{User: k.User, ScramCredential: c})
	}
	slices.SortFunc(out, func(a, b snapScram) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Mechanism, b.Mechanism))
	})
	return out
}

// restoreScram fills s from a Raft snapshot's list.
func restoreScram(s *Snapshot, list []snapScram) {
	s.scram = make(map[scramKey]ScramCredential, len(list))
	for _, c := range list {
		s.scram[scramKey{c.User, c.Mechanism}] = c.ScramCredential
	}
}
