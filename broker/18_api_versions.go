package broker

// ApiVersions (key 18), v0-v5.
//
// Lists every API in the handler table with the versions served. An
// ApiVersions request at a version newer than we know never reaches here:
// conn answers it in v0 with UNSUPPORTED_VERSION and the same list
// (KIP-511), and the client retries with a version we gave. The response
// always goes out with response header v0 (wire handles that).

import "github.com/twmb/franz-go/pkg/kmsg"

var apiVersionsHandler = handle(kmsg.ApiVersions, 0, 5, func(s *deps, r *request, req *kmsg.ApiVersionsRequest) (kmsg.Response, error) {
	if req.Version >= 3 {
		sw := [2]string{req.ClientSoftwareName, req.ClientSoftwareVersion}
		r.conn.software.Store(&sw)
	}
	return s.table.apiVersionsResponse(req.Version), nil
})
