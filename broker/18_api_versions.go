package broker

// ApiVersions (key 18), v0-v5.
//
// Lists every API in the handler table with the versions served. An
// ApiVersions request at a version newer than we know never reaches here:
// conn answers it in v0 with UNSUPPORTED_VERSION and the same list
// (KIP-511), and the client retries with a version we gave. The response
// always goes out with response header v0 (wire handles that).
//
// v3+ also carries the features (KIP-584, tagged fields): the supported
// range of each (v3 leaves out those with minimum 0, as Kafka does since
// KAFKA-17492, so only v4+ lists them all), and the finalized levels
// above 0 with their epoch, from this broker's metadata snapshot.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var apiVersionsHandler = handle(kmsg.ApiVersions, 0, 5, func(s *deps, r *request, req *kmsg.ApiVersionsRequest) (kmsg.Response, error) {
	if req.Version >= 3 {
		sw := [2]string{req.ClientSoftwareName, req.ClientSoftwareVersion}
		r.conn.software.Store(&sw)
	}
	resp := s.table.apiVersionsResponse(req.Version)
	if req.Version >= 3 {
		addFeatures(resp, s.ctrl.Snapshot())
	}
	return resp, nil
})

// addFeatures fills resp's supported and finalized features from snap.
func addFeatures(resp *kmsg.ApiVersionsResponse, snap *controller.Snapshot) {
	for _, f := range controller.SupportedFeatures() {
		if f.Min == 0 && resp.Version < 4 {
			continue
		}
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = f.Name, f.Min, f.Max
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	}
	resp.FinalizedFeaturesEpoch = snap.FeaturesEpoch()
	for _, f := range snap.FinalizedFeatures() {
		ff := kmsg.NewApiVersionsResponseFinalizedFeature()
		ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = f.Name, f.Level, f.Level
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	}
}
