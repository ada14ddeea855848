package broker

import (
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
	"gregor/controller"
)

// aclHandlers lists the APIs of authorization: the ACL APIs.
var aclHandlers = []handler{describeACLsHandler, createACLsHandler, deleteACLsHandler}

// Kafka's messages for the ACL APIs without an authorizer.
const (
	noAuthorizerMsg         = "No Authorizer is configured."
	noAuthorizerOnBrokerMsg = "No Authorizer is configured on the broker"
)

// aclError is the error code and message of err in an ACL API's result:
// a Kafka error's own code, with its text after the code's name as the
// message (auth.ValidateACL's errors carry Kafka's message so).
func aclError(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		msg := strings.TrimPrefix(err.Error(), ke.Error()+": ")
		return ke.Code, &msg
	}
	return errCode(err), errMessage(err)
}

// kafkaErr is a Kafka error with a message, for aclError.
func kafkaErr(e *kerr.Error, msg string) error { return fmtKafkaErr{e, msg} }

type fmtKafkaErr struct {
	e   *kerr.Error
	msg string
}

func (f fmtKafkaErr) Error() string { return f.e.Error() + ": " + f.msg }
func (f fmtKafkaErr) Unwrap() error { return f.e }

// aclFilter is a DescribeAcls or DeleteAcls filter as the authorizer's.
func aclFilter(rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal, host *string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) auth.ACLFilter {
	return auth.ACLFilter{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

// matcher is f as a controller binding predicate.
func matcher(f auth.ACLFilter) func(controller.ACL) bool {
	return func(a controller.ACL) bool { return f.Matches(authACLs([]controller.ACL{a})[0]) }
}
