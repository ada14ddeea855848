package quota

// Quota keys of DescribeClientQuotas/AlterClientQuotas and the
// entity types.
const (
	KeyProducerByteRate       = "producer_byte_rate"
	KeyConsumerByteRate       = "consumer_byte_rate"
	KeyRequestPercentage      = "request_percentage"
	KeyControllerMutationRate = "controller_mutation_rate"
	KeyConnectionCreationRate = "connection_creation_rate"

	EntityUser     = "user"
	EntityClientID = "client-id"
	EntityIP       = "ip"
)

// Entity names a quota's owner: a user and/or a client id, each either a
// name or the default (<default>, Default true). An empty side is absent.
type Entity struct {
	User            string
	UserDefault     bool
	HasUser         bool
	ClientID        string
	ClientIDDefault bool
	HasClientID     bool
}

// Level is a precedence level, 1 (most specific) to 8.
type Level int

// Store returns the configured quota value of an entity for one key; the
// controller implements it over its stored ClientQuotaRecords.
type Store interface {
	Quota(e Entity, key string) (value float64, ok bool)
}

// MapStore is a Store over a map, for tests and static configuration.
type MapStore map[Entity]map[string]float64

// Quota looks up e's key.
func (m MapStore) Quota(e Entity, key string) (float64, bool) {
	v, ok := m[e][key]
	return v, ok
}

// Resolve finds the quota for a connection's user and client id in Kafka's
// order (ClientQuotaManager's default callback):
//
//  1. user=<user>, client-id=<client-id>
//  2. user=<user>, client-id=<default>
//  3. user=<user>
//  4. user=<default>, client-id=<client-id>
//  5. user=<default>, client-id=<default>
//  6. user=<default>
//  7. client-id=<client-id>
//  8. client-id=<default>
//
// It returns the entity that matched (the one whose sensor all matching
// connections share: a user-level quota is shared by all of that user's
// client ids), the value and the level; ok false when no quota applies.
// user is the principal's name (ANONYMOUS for an unauthenticated
// connection).
func Resolve(s Store, user, clientID, key string) (matched Entity, value float64, level Level, ok bool) {
	u := func(name string, def bool) Entity { return Entity{User: name, UserDefault: def, HasUser: true} }
	withC := func(e Entity, name string, def bool) Entity {
		e.ClientID, e.ClientIDDefault, e.HasClientID = name, def, true
		return e
	}
	c := func(name string, def bool) Entity {
		return Entity{ClientID: name, ClientIDDefault: def, HasClientID: true}
	}
	candidates := []Entity{
		withC(u(user, false), clientID, false),
		withC(u(user, false), "", true),
		u(user, false),
		withC(u("", true), clientID, false),
		withC(u("", true), "", true),
		u("", true),
		c(clientID, false),
		c("", true),
	}
	for i, e := range candidates {
		if v, found := s.Quota(e, key); found {
			// The sensor is per matched entity, with <default> sides
			// standing for the connection's own name.
			m := e
			if m.UserDefault {
				m.User, m.UserDefault = user, false
			}
			if m.ClientIDDefault {
				m.ClientID, m.ClientIDDefault = clientID, false
			}
			return m, v, Level(i + 1), true
		}
	}
	return Entity{}, 0, 0, false
}
