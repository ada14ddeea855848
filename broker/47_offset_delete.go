package broker

// OffsetDelete (key 47), v0.
//
// Deletes committed offsets of a group (tombstones). A "consumer" group
// with members keeps the offsets of topics its members subscribe to
// (GROUP_SUBSCRIBED_TO_TOPIC); other non-empty groups get NON_EMPTY_GROUP.

import "github.com/twmb/franz-go/pkg/kmsg"

var offsetDeleteHandler = handle(kmsg.OffsetDelete, 0, 0, func(s *deps, r *request, req *kmsg.OffsetDeleteRequest) (kmsg.Response, error) {
	s.groups.prepare(req.Group)
	return s.groups.coord.DeleteOffsets(s.ctx, req)
})
