package broker

import (
	"fmt"

	"gregor/auth"
)

// AuthzConfig holds the authorizer's settings.
type AuthzConfig struct {
	// Enabled is set by authorizer.class.name naming a known authorizer.
	Enabled bool
	// SuperUsers are allowed everything (super.users).
	SuperUsers []auth.Principal
	// AllowEveryoneIfNoACLFound allows an action no ACL applies to.
	AllowEveryoneIfNoACLFound bool
}

// authorizerNames are the authorizer.class.name values that turn the
// authorizer on: Kafka's two authorizers' names and gregor's own.
var authorizerNames = map[string]bool{
	"org.apache.kafka.metadata.authorizer.StandardAuthorizer": true,
	"kafka.security.authorizer.AclAuthorizer":                 true,
	"gregor": true,
}

// authzConfigDefs are the keys of AuthzConfig.
var authzConfigDefs = []configDef{
	{name: "authorizer.class.name", typ: "string", def: "", doc: "Authorizer: empty for none; org.apache.kafka.metadata.authorizer.StandardAuthorizer, kafka.security.authorizer.AclAuthorizer or gregor turn ACL authorization on.",
		apply: func(c *Config, v string) error {
			if v != "" && !authorizerNames[v] {
				return fmt.Errorf("unknown authorizer %q", v)
			}
			c.Authz.Enabled = v != ""
			return nil
		}},
	{name: "super.users", typ: "string", def: "", doc: "Principals allowed everything, separated by semicolons (User:admin;User:kafka).",
		apply: func(c *Config, v string) error {
			if v == "" {
				c.Authz.SuperUsers = nil
				return nil
			}
			p, err := auth.ParseSuperUsers(v)
			if err != nil {
				return err
			}
			c.Authz.SuperUsers = p
			return nil
		}},
	boolKey("allow.everyone.if.no.acl.found", "false", "Allow an action on a resource that no ACL applies to.", func(c *Config, b bool) { c.Authz.AllowEveryoneIfNoACLFound = b }),
}
