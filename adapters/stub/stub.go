// Package stub is the no-op Dynamics portal: it holds no records, makes no
// network call and needs no credentials. The module wires it in when the
// dynamics-portal-enabled flag is off, so the rest of the backend runs while
// the live portal is unavailable.
//
// The stub checks its input as the real adapter does (GUID ids, writable
// sync statuses, continuations it issued, the caller's context), so code
// that works against the stub does not break on the live portal for a
// reason the stub could have caught.
package stub

import (
	"context"
	"log/slog"

	"github.com/hlf/dynamicsportal/ports"
)

var _ ports.DynamicsPortal = (*Portal)(nil)

// Portal is the no-op portal. Its zero value is ready to use; New also logs
// that it is in use.
type Portal struct{}

// New returns the stub and logs one info line saying that no portal calls
// are made. A nil logger logs nothing.
func New(opts *Options) *Portal {
	if opts != nil && opts.Logger != nil {
		opts.Logger.Info("dynamics portal stub in use: no portal calls are made")
	}
	return &Portal{}
}

// Options tune the stub; nil means the defaults.
type Options struct {
	// Logger gets one info record saying the stub is in use (default:
	// none).
	Logger *slog.Logger
}

// WhoAmI returns an identity with Stub set and empty ids: the stub acts as
// no one on any portal.
func (*Portal) WhoAmI(ctx context.Context) (ports.Identity, error) {
	if err := checkContext(ctx, "WhoAmI"); err != nil {
		return ports.Identity{}, err
	}
	return ports.Identity{Stub: true}, nil
}

// ListCertifications returns an empty last page. The stub never issues a
// continuation, so a non-empty one is refused as invalidRequest.
func (*Portal) ListCertifications(ctx context.Context, q ports.PageQuery) (ports.Page[ports.Certification], error) {
	if err := checkQuery(ctx, "ListCertifications", q); err != nil {
		return ports.Page[ports.Certification]{}, err
	}
	return ports.Page[ports.Certification]{}, nil
}

// GetCertification fails with notFound for a well-formed id, and with
// invalidRequest for an id that is not a GUID.
func (*Portal) GetCertification(ctx context.Context, id string) (ports.Certification, error) {
	const op = "GetCertification"
	if err := checkContext(ctx, op); err != nil {
		return ports.Certification{}, err
	}
	if err := checkID(op, id); err != nil {
		return ports.Certification{}, err
	}
	return ports.Certification{}, &ports.PortalError{Code: ports.CodeNotFound, Op: op, Message: "the stub holds no certifications"}
}

// ListAssignments returns an empty last page, like ListCertifications.
func (*Portal) ListAssignments(ctx context.Context, q ports.PageQuery) (ports.Page[ports.Assignment], error) {
	if err := checkQuery(ctx, "ListAssignments", q); err != nil {
		return ports.Page[ports.Assignment]{}, err
	}
	return ports.Page[ports.Assignment]{}, nil
}

// WriteSyncMetadata acknowledges the write without applying it: the answer
// echoes the id, status and time and has Skipped set. An id that is not a
// GUID, or a status the portal does not store (only 1 to 4 are writable), is
// refused as invalidRequest.
func (*Portal) WriteSyncMetadata(ctx context.Context, id string, m ports.SyncMetadata) (ports.SyncResponse, error) {
	const op = "WriteSyncMetadata"
	if err := checkContext(ctx, op); err != nil {
		return ports.SyncResponse{}, err
	}
	if err := checkID(op, id); err != nil {
		return ports.SyncResponse{}, err
	}
	if m.Status < ports.SyncStatusValid || m.Status > ports.SyncStatusInactive {
		return ports.SyncResponse{}, invalid(op, "sync status must be 1 to 4")
	}
	return ports.SyncResponse{ID: id, Status: m.Status, LastSyncedOn: m.LastSyncedOn, Skipped: true}, nil
}

// WriteSyncMetadataBatch acknowledges each write as WriteSyncMetadata
// does: a well-formed one is answered with Skipped set, a malformed one
// with its invalidRequest in its result. More than ports.MaxBatchWrites
// writes are refused as a whole.
func (p *Portal) WriteSyncMetadataBatch(ctx context.Context, writes []ports.SyncWrite) ([]ports.SyncWriteResult, error) {
	const op = "WriteSyncMetadataBatch"
	if err := checkContext(ctx, op); err != nil {
		return nil, err
	}
	if len(writes) > ports.MaxBatchWrites {
		return nil, invalid(op, "more writes than a batch may hold")
	}
	results := make([]ports.SyncWriteResult, len(writes))
	for i, w := range writes {
		results[i].Response, results[i].Err = p.WriteSyncMetadata(ctx, w.ID, w.Metadata)
	}
	return results, nil
}

func checkContext(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return &ports.PortalError{Code: ports.CodeCanceled, Op: op, Err: err}
	}
	return nil
}

func checkQuery(ctx context.Context, op string, q ports.PageQuery) error {
	if err := checkContext(ctx, op); err != nil {
		return err
	}
	if q.Continuation != "" {
		return invalid(op, "the stub issues no continuation")
	}
	return nil
}

func checkID(op, id string) error {
	if !ports.IsID(id) {
		return invalid(op, "id is not a GUID")
	}
	return nil
}

func invalid(op, msg string) error {
	return &ports.PortalError{Code: ports.CodeInvalidRequest, Op: op, Message: msg}
}
