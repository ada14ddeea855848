package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclCmd manages ACLs (CreateAcls, DescribeAcls and DeleteAcls through
// kadm's ACL builder).
func (c *cli) aclCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "acl", Short: "create, list and delete ACLs", RunE: parentRun}
	cmd.AddCommand(c.aclCreateCmd(), c.aclListCmd(), c.aclDeleteCmd())
	return cmd
}

// aclFlags are the resource, entry and pattern flags of the acl commands.
type aclFlags struct {
	topics, groups, txnIDs, tokens []string
	cluster                        bool
	allow, deny                    []string
	hosts                          []string
	ops                            []string
	pattern                        string
}

func (f *aclFlags) register(cmd *cobra.Command, create bool) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.topics, "topic", nil, "topic name(s)")
	fl.StringSliceVar(&f.groups, "group", nil, "consumer group id(s)")
	fl.StringSliceVar(&f.txnIDs, "transactional-id", nil, "transactional id(s)")
	fl.StringSliceVar(&f.tokens, "delegation-token", nil, "delegation token id(s)")
	fl.BoolVar(&f.cluster, "cluster", false, "the cluster resource")
	fl.StringSliceVar(&f.allow, "allow", nil, "principal(s) to allow, as User:NAME")
	fl.StringSliceVar(&f.deny, "deny", nil, "principal(s) to deny, as User:NAME")
	fl.StringSliceVar(&f.hosts, "host", nil, "host(s) the entries apply to (default * when creating, any when filtering)")
	if create {
		fl.StringSliceVar(&f.ops, "operation", nil, "operation(s): READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, CREATE_TOKENS, DESCRIBE_TOKENS, ALL")
		fl.StringVar(&f.pattern, "pattern", "literal", "resource pattern type: literal or prefixed")
	} else {
		fl.StringSliceVar(&f.ops, "operation", nil, "operation(s) to select (default any)")
		fl.StringVar(&f.pattern, "pattern", "any", "resource pattern filter: literal, prefixed, any or match")
	}
}

// builder turns the flags into kadm's ACL builder. A filter (create
// false) without a resource flag selects every resource, without
// principals every principal and permission.
func (f *aclFlags) builder(create bool) (*kadm.ACLBuilder, error) {
	b := kadm.NewACLs()
	pt, err := kmsg.ParseACLResourcePatternType(f.pattern)
	if err != nil {
		return nil, usageErrorf("--pattern: %v", err)
	}
	b.ResourcePatternType(pt)
	var ops []kadm.ACLOperation
	for _, s := range f.ops {
		op, err := kmsg.ParseACLOperation(s)
		if err != nil {
			return nil, usageErrorf("--operation: %v", err)
		}
		ops = append(ops, op)
	}
	hasResource := len(f.topics)+len(f.groups)+len(f.txnIDs)+len(f.tokens) > 0 || f.cluster
	switch {
	case create && !hasResource:
		return nil, usageErrorf("acl create: name a resource (--topic, --group, --transactional-id, --delegation-token or --cluster)")
	case create && len(f.allow)+len(f.deny) == 0:
		return nil, usageErrorf("acl create: give --allow or --deny principals")
	case create && len(ops) == 0:
		return nil, usageErrorf("acl create: give --operation")
	}
	if hasResource {
		b.MaybeTopics(f.topics...).MaybeGroups(f.groups...).MaybeTransactionalIDs(f.txnIDs...).MaybeDelegationTokens(f.tokens...).MaybeClusters(f.cluster)
	} else {
		b.AnyResource()
	}
	if len(ops) == 0 {
		ops = []kadm.ACLOperation{kadm.OpAny}
	}
	b.Operations(ops...)
	hosts := f.hosts
	if create && len(hosts) == 0 {
		hosts = []string{"*"}
	}
	if len(f.allow)+len(f.deny) == 0 {
		b.Allow().Deny().AllowHosts(hosts...).DenyHosts(hosts...)
	} else {
		b.MaybeAllow(f.allow...).MaybeDeny(f.deny...)
		if len(f.allow) > 0 {
			b.AllowHosts(hosts...)
		}
		if len(f.deny) > 0 {
			b.DenyHosts(hosts...)
		}
	}
	if create {
		err = b.ValidateCreate()
	} else {
		err = b.ValidateFilter()
	}
	if err != nil {
		return nil, usageErrorf("acl: %v", err)
	}
	return b, nil
}

type aclOut struct {
	ResourceType string `json:"resource_type"`
	Pattern      string `json:"pattern"`
	Resource     string `json:"resource"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

func (o aclOut) row() []string {
	return []string{o.ResourceType, o.Pattern, o.Resource, o.Principal, o.Host, o.Operation, o.Permission}
}

var aclHeader = []string{"TYPE", "PATTERN", "RESOURCE", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"}

// printACLs writes outs sorted, as a table or JSON.
func (c *cli) printACLs(outs []aclOut) error {
	sort.Slice(outs, func(i, j int) bool { return strings.Join(outs[i].row(), "\x00") < strings.Join(outs[j].row(), "\x00") })
	if c.json() {
		return c.writeJSON(outs)
	}
	var rows [][]string
	for _, o := range outs {
		rows = append(rows, o.row())
	}
	return c.table(aclHeader, rows)
}

func (c *cli) aclCreateCmd() *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "create ACLs: every combination of the resources, principals, hosts and operations given",
		Args:  cobra.NoArgs,
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, _ []string) error {
			b, err := f.builder(true)
			if err != nil {
				return err
			}
			res, err := adm.CreateACLs(ctx, b)
			if err != nil {
				return err
			}
			var errs []string
			for _, r := range res {
				o := aclOut{r.Type.String(), r.Pattern.String(), r.Name, r.Principal, r.Host, r.Operation.String(), r.Permission.String()}
				if r.Err != nil {
					errs = append(errs, fmt.Sprintf("acl %s: %s", strings.Join(o.row(), " "), errText(r.Err, r.ErrMessage)))
					continue
				}
				fmt.Fprintf(c.stdout, "created %s\n", strings.Join(o.row(), " "))
			}
			if len(errs) > 0 {
				return fmt.Errorf("%s", strings.Join(errs, "; "))
			}
			return nil
		}),
	}
	f.register(cmd, true)
	return cmd
}

// aclFilterCmd is acl list or acl delete: run sends the filter and
// returns per filter its error and the ACLs it selected, which are
// printed once each.
func (c *cli) aclFilterCmd(use string, aliases []string, short string, needFlag bool,
	run func(context.Context, *kadm.Client, *kadm.ACLBuilder) ([]error, [][]aclOut, error)) *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   short,
		Args:    cobra.NoArgs,
		RunE: c.withAdmin(func(ctx context.Context, adm *kadm.Client, _ []string) error {
			if needFlag && len(f.topics)+len(f.groups)+len(f.txnIDs)+len(f.tokens)+len(f.allow)+len(f.deny)+len(f.ops)+len(f.hosts) == 0 && !f.cluster {
				return usageErrorf("acl %s: select ACLs with at least one flag", use)
			}
			b, err := f.builder(false)
			if err != nil {
				return err
			}
			errs, found, err := run(ctx, adm, b)
			if err != nil {
				return err
			}
			outs := []aclOut{}
			seen := map[aclOut]bool{}
			for i, err := range errs {
				if err != nil {
					return fmt.Errorf("acl %s: %w", use, err)
				}
				for _, o := range found[i] {
					if !seen[o] {
						seen[o] = true
						outs = append(outs, o)
					}
				}
			}
			return c.printACLs(outs)
		}),
	}
	f.register(cmd, false)
	return cmd
}

func (c *cli) aclListCmd() *cobra.Command {
	return c.aclFilterCmd("list", []string{"ls"}, "list the ACLs the flags select (all ACLs without flags)", false,
		func(ctx context.Context, adm *kadm.Client, b *kadm.ACLBuilder) ([]error, [][]aclOut, error) {
			res, err := adm.DescribeACLs(ctx, b)
			errs, found := make([]error, len(res)), make([][]aclOut, len(res))
			for i, r := range res {
				if r.Err != nil {
					errs[i] = fmt.Errorf("%s", errText(r.Err, r.ErrMessage))
				}
				for _, d := range r.Described {
					found[i] = append(found[i], aclOut{d.Type.String(), d.Pattern.String(), d.Name, d.Principal, d.Host, d.Operation.String(), d.Permission.String()})
				}
			}
			return errs, found, err
		})
}

func (c *cli) aclDeleteCmd() *cobra.Command {
	return c.aclFilterCmd("delete", nil, "delete the ACLs the flags select (at least one flag), listing what was deleted", true,
		func(ctx context.Context, adm *kadm.Client, b *kadm.ACLBuilder) ([]error, [][]aclOut, error) {
			res, err := adm.DeleteACLs(ctx, b)
			errs, found := make([]error, len(res)), make([][]aclOut, len(res))
			for i, r := range res {
				if r.Err != nil {
					errs[i] = fmt.Errorf("%s", errText(r.Err, r.ErrMessage))
				}
				for _, d := range r.Deleted {
					found[i] = append(found[i], aclOut{d.Type.String(), d.Pattern.String(), d.Name, d.Principal, d.Host, d.Operation.String(), d.Permission.String()})
				}
			}
			return errs, found, err
		})
}
