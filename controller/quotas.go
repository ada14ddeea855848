package controller

// Client quotas, kept as Kafka keeps them (ClientQuotaRecord;
// ClientQuotaControlManager's rules): per entity (a user and/or a client
// id, or an IP address, each side a name or the default) a map of quota
// keys to values. One record sets or removes one key of one entity.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// recClientQuota sets Quota.Key of Quota.Entity to Quota.Value, or
// removes it when Quota.Remove (the range 12-13 taken in records.go; 13 is
// unused).
const recClientQuota recordType = 12

// Quota entity types and keys (Kafka's ClientQuotaEntity and QuotaConfig
// names).
const (
	QuotaEntityUser     = "user"
	QuotaEntityClientID = "client-id"
	QuotaEntityIP       = "ip"

	QuotaProducerByteRate       = "producer_byte_rate"
	QuotaConsumerByteRate       = "consumer_byte_rate"
	QuotaRequestPercentage      = "request_percentage"
	QuotaControllerMutationRate = "controller_mutation_rate"
	QuotaConnectionCreationRate = "connection_creation_rate"
)

// QuotaName is one side of an entity: absent (!Set), the default
// (Default, Kafka's null name), or a name.
type QuotaName struct {
	Set     bool   `json:"set,omitempty"`
	Default bool   `json:"default,omitempty"`
	Name    string `json:"name,omitempty"`
}

// QuotaEntity names a quota's owner. User and ClientID may be combined;
// IP stands alone.
type QuotaEntity struct {
	User     QuotaName `json:"user,omitzero"`
	ClientID QuotaName `json:"client_id,omitzero"`
	IP       QuotaName `json:"ip,omitzero"`
}

// Side returns the entity's side of entity type typ.
func (e QuotaEntity) Side(typ string) QuotaName {
	switch typ {
	case QuotaEntityUser:
		return e.User
	case QuotaEntityClientID:
		return e.ClientID
	case QuotaEntityIP:
		return e.IP
	}
	return QuotaName{}
}

// SetSide sets the entity's side of entity type typ; false for an unknown
// type.
func (e *QuotaEntity) SetSide(typ string, n QuotaName) bool {
	switch typ {
	case QuotaEntityUser:
		e.User = n
	case QuotaEntityClientID:
		e.ClientID = n
	case QuotaEntityIP:
		e.IP = n
	default:
		return false
	}
	return true
}

// QuotaRecord is the payload of recClientQuota.
type QuotaRecord struct {
	Entity QuotaEntity `json:"entity"`
	Key    string      `json:"key"`
	Value  float64     `json:"value,omitempty"`
	Remove bool        `json:"remove,omitempty"`
}

// ClientQuotas returns every entity with quotas and its values. The maps
// are the snapshot's: do not modify them.
func (s *Snapshot) ClientQuotas() map[QuotaEntity]map[string]float64 { return s.quotas }

// ClientQuota returns the value of key for entity e.
func (s *Snapshot) ClientQuota(e QuotaEntity, key string) (float64, bool) {
	v, ok := s.quotas[e][key]
	return v, ok
}

// QuotaOp is one key of an alteration: set Value, or remove.
type QuotaOp struct {
	Key    string
	Value  float64
	Remove bool
}

// QuotaAlteration changes one entity's keys.
type QuotaAlteration struct {
	Entity QuotaEntity
	Ops    []QuotaOp
}

func quotaErr(msg string) error { return &kafkaError{ErrInvalidRequest, msg} }

// quotaKeyType says whether a key takes an integer (Kafka's LONG) or a
// double, and which entities it applies to.
var quotaKeys = map[string]struct {
	long bool
	ip   bool // applies to IP entities (only it does)
}{
	QuotaProducerByteRate:       {long: true},
	QuotaConsumerByteRate:       {long: true},
	QuotaRequestPercentage:      {},
	QuotaControllerMutationRate: {},
	QuotaConnectionCreationRate: {long: true, ip: true},
}

// ValidateQuotaEntity checks an entity as ClientQuotaControlManager does:
// not empty, IP alone and a valid address.
func ValidateQuotaEntity(e QuotaEntity) error {
	switch {
	case !e.User.Set && !e.ClientID.Set && !e.IP.Set:
		return quotaErr("Invalid empty client quota entity")
	case e.IP.Set && (e.User.Set || e.ClientID.Set):
		return quotaErr("Invalid quota entity combination, IP entity should not be combined with User or ClientId entity.")
	case e.IP.Set && !e.IP.Default && net.ParseIP(e.IP.Name) == nil:
		return quotaErr("Unable to resolve address " + e.IP.Name)
	}
	return nil
}

// ValidateQuotaAlteration checks one alteration: the entity, each key
// known and valid for it, named once, values positive (integers for the
// byte and connection rates).
func ValidateQuotaAlteration(a QuotaAlteration) error {
	if err := ValidateQuotaEntity(a.Entity); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, op := range a.Ops {
		k, ok := quotaKeys[op.Key]
		if !ok || k.ip != a.Entity.IP.Set {
			return quotaErr("Invalid configuration key " + op.Key)
		}
		if seen[op.Key] {
			return quotaErr("Duplicate quota key " + op.Key + " for entity")
		}
		seen[op.Key] = true
		if op.Remove {
			continue
		}
		switch {
		case math.IsNaN(op.Value) || math.IsInf(op.Value, 0) || op.Value <= 0:
			return quotaErr(fmt.Sprintf("Invalid value %v for configuration key %s", op.Value, op.Key))
		case k.long && op.Value != math.Trunc(op.Value):
			return quotaErr("Configuration " + op.Key + " must be a Long value")
		}
	}
	return nil
}

// AlterClientQuotas validates each alteration and, unless validateOnly,
// applies the valid ones in one atomic batch. errs[i] is nil or wraps
// ErrInvalidRequest with Kafka's message for alteration i; an entity named
// twice fails the second time. The error is for the whole request. Needs
// the active controller.
func (c *Controller) AlterClientQuotas(alts []QuotaAlteration, validateOnly bool) ([]error, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return nil, err
	}
	errs := make([]error, len(alts))
	seen := map[QuotaEntity]bool{}
	var recs []record
	for i, a := range alts {
		if err := ValidateQuotaAlteration(a); err != nil {
			errs[i] = err
			continue
		}
		if seen[a.Entity] {
			errs[i] = quotaErr("Duplicate client quota entity in the request")
			continue
		}
		seen[a.Entity] = true
		for _, op := range a.Ops {
			recs = append(recs, record{Type: recClientQuota, Quota: &QuotaRecord{Entity: a.Entity, Key: op.Key, Value: op.Value, Remove: op.Remove}})
		}
	}
	if validateOnly {
		return errs, nil
	}
	if err := c.commitLocked(recs); err != nil {
		return nil, err
	}
	return errs, nil
}

// applyQuota applies a recClientQuota record to the builder. Removing a
// key that is not set is a no-op, as in Kafka.
func (b *builder) applyQuota(r *record) error {
	q := r.Quota
	if q == nil || ValidateQuotaEntity(q.Entity) != nil {
		return fmt.Errorf("controller: client quota record for a bad entity")
	}
	if b.quotaDirty == nil {
		b.quotaDirty = map[QuotaEntity]bool{}
		b.next.quotas = maps.Clone(b.old.quotas)
		if b.next.quotas == nil {
			b.next.quotas = map[QuotaEntity]map[string]float64{}
		}
	}
	if !b.quotaDirty[q.Entity] { // copy the entity's values once per batch
		b.next.quotas[q.Entity] = maps.Clone(b.next.quotas[q.Entity])
		b.quotaDirty[q.Entity] = true
	}
	vals := b.next.quotas[q.Entity]
	if q.Remove {
		delete(vals, q.Key)
	} else {
		if vals == nil {
			vals = map[string]float64{}
		}
		vals[q.Key] = q.Value
	}
	if len(vals) == 0 {
		delete(b.next.quotas, q.Entity)
	} else {
		b.next.quotas[q.Entity] = vals
	}
	return nil
}

// quotaDBKey is an entity's key in bucketQuotas (schema.go): its JSON.
func quotaDBKey(e QuotaEntity) ([]byte, error) { return json.Marshal(e) }

// putQuota stores one entity's values.
func putQuota(bk *bolt.Bucket, e QuotaEntity, vals map[string]float64) error {
	k, err := quotaDBKey(e)
	if err != nil {
		return err
	}
	v, err := json.Marshal(vals)
	if err != nil {
		return err
	}
	return bk.Put(k, v)
}

// persistQuotas writes the entities the batch changed.
func (b *builder) persistQuotas(tx *bolt.Tx, next *Snapshot) error {
	bk := tx.Bucket(bucketQuotas)
	for e := range b.quotaDirty {
		vals, ok := next.quotas[e]
		if ok {
			if err := putQuota(bk, e, vals); err != nil {
				return err
			}
			continue
		}
		k, err := quotaDBKey(e)
		if err != nil {
			return err
		}
		if err := bk.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// persistAllQuotas rewrites the whole bucket from s.
func persistAllQuotas(tx *bolt.Tx, s *Snapshot) error {
	bk, err := recreateBucket(tx, bucketQuotas)
	if err != nil {
		return err
	}
	for e, vals := range s.quotas {
		if err := putQuota(bk, e, vals); err != nil {
			return err
		}
	}
	return nil
}

// loadQuotas reads the bucket into s.
func loadQuotas(tx *bolt.Tx, s *Snapshot) error {
	s.quotas = map[QuotaEntity]map[string]float64{}
	return tx.Bucket(bucketQuotas).ForEach(func(k, v []byte) error {
		var e QuotaEntity
		if err := json.Unmarshal(k, &e); err != nil {
			return fmt.Errorf("decode client quota entity %q: %w", k, err)
		}
		vals := map[string]float64{}
		if err := json.Unmarshal(v, &vals); err != nil {
			return fmt.Errorf("decode client quotas of %q: %w", k, err)
		}
		s.quotas[e] = vals
		return nil
	})
}

// snapQuota is an entity's quotas in the Raft snapshot.
type snapQuota struct {
	Entity QuotaEntity        `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// quotaSnapshot lists s's quotas for the Raft snapshot, sorted by entity.
func quotaSnapshot(s *Snapshot) []snapQuota {
	out := make([]snapQuota, 0, len(s.quotas))
	for e, vals := range s.quotas {
		out = append(out, snapQuota{Entity: e, Values: vals})
	}
	slices.SortFunc(out, func(a, b snapQuota) int {
		ka, _ := quotaDBKey(a.Entity)
		kb, _ := quotaDBKey(b.Entity)
		return cmp.Compare(string(ka), string(kb))
	})
	return out
}

// restoreQuotas fills s from a Raft snapshot's list.
func restoreQuotas(s *Snapshot, list []snapQuota) {
	s.quotas = make(map[QuotaEntity]map[string]float64, len(list))
	for _, q := range list {
		s.quotas[q.Entity] = q.Values
	}
}
