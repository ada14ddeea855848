package broker

// aclHandlers lists the APIs of authorization: the ACL APIs.
var aclHandlers = []handler{}
