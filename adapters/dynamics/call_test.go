package dynamics

import (
	"net/http"
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

// Dataverse answers can carry x-ms-service-request-id twice (the gateway's
// and the organisation service's); both reach the error, in order.
func TestDuplicateServiceRequestIDsAreKept(t *testing.T) {
	const gateway, org = "5e6d1c2a-09b7-4f1e-a7c3-2b4d6f8a0c1e", "b1a2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
	f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("x-ms-service-request-id", gateway)
		w.Header().Add("x-ms-service-request-id", org)
		w.Header().Set("REQ_ID", org)
		writeJSON(w, http.StatusNotFound, fixture(t, "error-not-found.json"))
	}}
	_, err := newNetClient(t, f).GetCertification(t.Context(), certID)
	pe := wantCode(t, err, ports.CodeNotFound)
	if want := gateway + ", " + org; pe.ServiceRequestID != want {
		t.Errorf("ServiceRequestID %q, want %q", pe.ServiceRequestID, want)
	}
}
