package controller

// Finalized feature levels (KIP-584, KIP-1022), kept as Kafka's KRaft
// controller keeps them (FeatureLevelRecord; FeatureControlManager's
// rules): one cluster-wide level per feature, changed by UpdateFeatures
// and answered in every broker's ApiVersions. The supported ranges are
// Kafka 4.0's. The levels are recorded and advertised only: no gregor
// behaviour switches on them.

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// recFeatureLevel sets Feature.Name to Feature.Level (the range 14-15
// taken in records.go; 15 is unused).
const recFeatureLevel recordType = 14

// Feature names (Kafka's Feature enum and MetadataVersion.FEATURE_NAME).
const (
	FeatureMetadataVersion    = "metadata.version"
	FeatureKRaftVersion       = "kraft.version"
	FeatureTransactionVersion = "transaction.version"
	FeatureGroupVersion       = "group.version"
	FeatureELRVersion         = "eligible.leader.replicas.version"
)

// FeatureRange is a supported range of feature levels, inclusive.
type FeatureRange struct {
	Name     string
	Min, Max int16
}

// supportedFeatures are Kafka 4.0's: metadata.version from IBP_3_3_IV3
// (7, MetadataVersion.MINIMUM_VERSION) to IBP_4_0_IV3 (25), and the
// levels of each Feature, but for transaction.version, which stops at 1:
// clients take a finalized level 2 as leave to run KIP-890 part 2
// transactions (franz-go's supportsKIP890p2 and Kafka 4.0's Java
// producer: Produce v12 without AddPartitionsToTxn, EndTxn v5 epoch
// bumps), which gregor does not serve, so advertising 2 would let an
// UpdateFeatures break every transactional producer. Sorted by name.
var supportedFeatures = []FeatureRange{
	{FeatureELRVersion, 0, 1},
	{FeatureGroupVersion, 0, 1},
	{FeatureKRaftVersion, 0, 1},
	{FeatureMetadataVersion, 7, 25},
	{FeatureTransactionVersion, 0, 1},
}

// defaultFeatureLevels are the levels of a feature no record has set: a
// new cluster's, and one whose store predates feature records. Only
// metadata.version (Kafka 4.0's latest production level) and group.version
// (KIP-848 groups are served) are finalized.
var defaultFeatureLevels = map[string]int16{
	FeatureMetadataVersion: 25,
	FeatureGroupVersion:    1,
}

// metadataChanged[level] is MetadataVersion.didMetadataChange for the
// supported metadata.version levels: a downgrade across a level that
// changed the metadata format could lose metadata and is refused.
var metadataChanged = map[int16]bool{
	7: true, 8: true, 9: false, 10: false, 11: true, 12: false, 13: true,
	14: true, 15: true, 16: false, 17: true, 18: false, 19: false, 20: false,
	21: false, 22: false, 23: true, 24: false, 25: false,
}

// featureDependencies: a feature at a level needs another feature at a
// least level (FeatureVersion.dependencies in Kafka 4.0: only
// kraft.version 1 has one, metadata.version 3.9-IV0).
var featureDependencies = map[string]map[int16]map[string]int16{
	FeatureKRaftVersion: {1: {FeatureMetadataVersion: 21}},
}

// SupportedFeatures returns the supported range of every feature, sorted
// by name.
func SupportedFeatures() []FeatureRange { return slices.Clone(supportedFeatures) }

func supportedRange(name string) (FeatureRange, bool) {
	i, ok := slices.BinarySearchFunc(supportedFeatures, name, func(r FeatureRange, n string) int { return cmp.Compare(r.Name, n) })
	if !ok {
		return FeatureRange{}, false
	}
	return supportedFeatures[i], true
}

// FeatureLevel returns the finalized level of feature name (0: not
// finalized).
func (s *Snapshot) FeatureLevel(name string) int16 {
	if v, ok := s.features[name]; ok {
		return v
	}
	return defaultFeatureLevels[name]
}

// FinalizedFeature is one finalized feature and its level.
type FinalizedFeature struct {
	Name  string
	Level int16
}

// FinalizedFeatures returns every feature finalized at a level above 0,
// sorted by name (as ApiVersions lists them: level 0 is left out).
func (s *Snapshot) FinalizedFeatures() []FinalizedFeature {
	var out []FinalizedFeature
	for _, r := range supportedFeatures {
		if l := s.FeatureLevel(r.Name); l > 0 {
			out = append(out, FinalizedFeature{r.Name, l})
		}
	}
	return out
}

// FeaturesEpoch counts the applied batches that changed a finalized level
// (0 for a cluster that never changed one). Replicated and persisted, so
// every node reports the same epoch for the same levels.
func (s *Snapshot) FeaturesEpoch() int64 { return s.featuresEpoch }

// UpgradeType is UpdateFeatures' upgrade_type (Kafka's
// FeatureUpdate.UpgradeType codes).
type UpgradeType int8

const (
	UpgradeTypeUpgrade         UpgradeType = 1
	UpgradeTypeSafeDowngrade   UpgradeType = 2
	UpgradeTypeUnsafeDowngrade UpgradeType = 3
)

// FeatureUpdate asks for feature Name at Level.
type FeatureUpdate struct {
	Name  string
	Level int16
	Type  UpgradeType
}

// FeatureLevel is the payload of recFeatureLevel.
type FeatureLevel struct {
	Name  string `json:"name"`
	Level int16  `json:"level"`
}

func invalidUpdateVersion(name string, level int16, msg string) error {
	return &kafkaError{ErrInvalidUpdateVersion, fmt.Sprintf("Invalid update version %d for feature %s. %s", level, name, msg)}
}

func invalidMetadataVersion(level int16, msg string) error {
	return &kafkaError{ErrInvalidUpdateVersion, fmt.Sprintf("Invalid metadata.version %d. %s", level, msg)}
}

// UpdateFeatures validates the updates against the finalized levels with
// Kafka's rules (FeatureControlManager.updateFeature) and, unless
// validateOnly, applies them in one batch. The first update that fails
// fails the request: nothing changes, and the error (wrapping
// ErrInvalidUpdateVersion, with Kafka's message) names it. A feature named
// twice is ErrInvalidRequest. Needs the active controller.
func (c *Controller) UpdateFeatures(updates []FeatureUpdate, validateOnly bool) error {
	seen := map[string]bool{}
	for _, u := range updates {
		if seen[u.Name] {
			return &kafkaError{ErrInvalidRequest, "Feature " + u.Name + " is named more than once in the request."}
		}
		seen[u.Name] = true
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return err
	}
	s := c.snap.Load()
	proposed := map[string]int16{}
	for _, r := range supportedFeatures {
		proposed[r.Name] = s.FeatureLevel(r.Name)
	}
	for _, u := range updates {
		proposed[u.Name] = u.Level
	}
	recs := make([]record, 0, len(updates))
	for _, u := range updates {
		if err := c.checkFeatureUpdate(s, u, proposed); err != nil {
			return err
		}
		recs = append(recs, record{Type: recFeatureLevel, Feature: &FeatureLevel{Name: u.Name, Level: u.Level}})
	}
	if validateOnly {
		return nil
	}
	return c.commitLocked(recs)
}

// checkFeatureUpdate checks one update in Kafka's order: the upgrade
// type, a negative level, the supported range, the direction against the
// upgrade type, then metadata.version's downgrade rule or the feature's
// dependencies within proposed (the levels after the whole request).
func (c *Controller) checkFeatureUpdate(s *Snapshot, u FeatureUpdate, proposed map[string]int16) error {
	if u.Type < UpgradeTypeUpgrade || u.Type > UpgradeTypeUnsafeDowngrade {
		return invalidUpdateVersion(u.Name, u.Level, "The controller does not support the given upgrade type.")
	}
	cur := s.FeatureLevel(u.Name)
	if u.Level < 0 {
		return invalidUpdateVersion(u.Name, u.Level, "A feature version cannot be less than 0.")
	}
	r, known := supportedRange(u.Name)
	if !known {
		r = FeatureRange{Name: u.Name} // Kafka's DISABLED range 0-0
	}
	if u.Level < r.Min || u.Level > r.Max {
		what := fmt.Sprintf("Local controller %d", c.cfg.NodeID)
		if r.Max == 0 {
			return invalidUpdateVersion(u.Name, u.Level, what+" does not support this feature.")
		}
		return invalidUpdateVersion(u.Name, u.Level, fmt.Sprintf("%s only supports versions %d-%d", what, r.Min, r.Max))
	}
	switch {
	case u.Level < cur && u.Type == UpgradeTypeUpgrade:
		return invalidUpdateVersion(u.Name, u.Level, "Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.")
	case u.Level > cur && u.Type != UpgradeTypeUpgrade:
		return invalidUpdateVersion(u.Name, u.Level, "Can't downgrade to a newer version.")
	}
	if !known {
		return invalidUpdateVersion(u.Name, u.Level, "Feature "+u.Name+" not found.")
	}
	if u.Name == FeatureMetadataVersion {
		if u.Level < cur && downgradeLosesMetadata(cur, u.Level) {
			if u.Type == UpgradeTypeUnsafeDowngrade {
				return invalidMetadataVersion(u.Level, "Unsafe metadata downgrade is not supported in this version.")
			}
			return invalidMetadataVersion(u.Level, "Refusing to perform the requested downgrade because it might delete metadata information.")
		}
		// Features whose dependencies the new metadata.version breaks.
		for _, name := range slices.Sorted(maps.Keys(featureDependencies)) {
			if err := checkFeatureDependencies(name, proposed[name], proposed); err != nil {
				return err
			}
		}
		return nil
	}
	if u.Name == FeatureKRaftVersion && u.Level != cur {
		return invalidUpdateVersion(u.Name, u.Level, "The controller quorum has a static voter set (controller.quorum.voters), so kraft.version cannot change.")
	}
	return checkFeatureDependencies(u.Name, u.Level, proposed)
}

// checkFeatureDependencies is Kafka's Features.validateVersion for feature
// name at level among the proposed levels.
func checkFeatureDependencies(name string, level int16, proposed map[string]int16) error {
	for _, dep := range slices.Sorted(maps.Keys(featureDependencies[name][level])) {
		need := featureDependencies[name][level][dep]
		if proposed[dep] < need {
			return invalidUpdateVersion(name, level, fmt.Sprintf("%s could not be set to %d because it depends on %s level %d", name, level, dep, need))
		}
	}
	return nil
}

// downgradeLosesMetadata is MetadataVersion.checkIfMetadataChanged for a
// downgrade from cur to next: some level in (next, cur] changed the
// metadata format.
func downgradeLosesMetadata(cur, next int16) bool {
	for l := cur; l > next; l-- {
		if metadataChanged[l] {
			return true
		}
	}
	return false
}

// applyFeature applies a recFeatureLevel record: a known feature at a
// supported level. The epoch counts batches that changed a level (once
// per batch).
func (b *builder) applyFeature(r *record) error {
	f := r.Feature
	if f == nil {
		return fmt.Errorf("controller: feature record without a feature")
	}
	rg, ok := supportedRange(f.Name)
	if !ok || f.Level < rg.Min || f.Level > rg.Max {
		return fmt.Errorf("controller: feature record for %s level %d outside the supported range", f.Name, f.Level)
	}
	if b.next.FeatureLevel(f.Name) == f.Level {
		return nil
	}
	if !b.featuresDirty {
		b.featuresDirty = true
		b.next.features = maps.Clone(b.old.features)
		if b.next.features == nil {
			b.next.features = map[string]int16{}
		}
		b.next.featuresEpoch++
	}
	b.next.features[f.Name] = f.Level
	return nil
}

// persistFeatures writes the levels and epoch when the batch changed them.
func (b *builder) persistFeatures(tx *bolt.Tx, next *Snapshot) error {
	if !b.featuresDirty {
		return nil
	}
	return putFeatures(tx.Bucket(bucketMeta), next)
}

// putFeatures stores s's levels and epoch in the meta bucket.
func putFeatures(meta *bolt.Bucket, s *Snapshot) error {
	v, err := json.Marshal(s.features)
	if err != nil {
		return err
	}
	if err := meta.Put(keyFeatures, v); err != nil {
		return err
	}
	return meta.Put(keyFeaturesEpoch, binary.BigEndian.AppendUint64(nil, uint64(s.featuresEpoch)))
}

// loadFeatures reads the levels and epoch from the meta bucket (absent in
// a store from before feature records: the defaults, epoch 0).
func loadFeatures(tx *bolt.Tx, s *Snapshot) error {
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(keyFeatures); v != nil {
		if err := json.Unmarshal(v, &s.features); err != nil {
			return fmt.Errorf("decode finalized features: %w", err)
		}
	}
	if v := meta.Get(keyFeaturesEpoch); len(v) == 8 {
		s.featuresEpoch = int64(binary.BigEndian.Uint64(v))
	}
	return nil
}
