package dynamics

import (
	"context"

	"github.com/hlf/dynamicsportal/ports"
)

// WriteSyncMetadataBatch writes each of writes as WriteSyncMetadata does,
// one request after another, and returns their results in order. A
// failure other than notFound or invalidRequest (rateLimited once the
// retries are spent, say) ends the sequence: that write and those not sent
// after it carry it as their result. More than ports.MaxBatchWrites writes
// are refused as invalidRequest.
func (c *Client) WriteSyncMetadataBatch(ctx context.Context, writes []ports.SyncWrite) ([]ports.SyncWriteResult, error) {
	const op = "WriteSyncMetadataBatch"
	if len(writes) > ports.MaxBatchWrites {
		return nil, badRequest(op, "more writes than a batch may hold")
	}
	results := make([]ports.SyncWriteResult, len(writes))
	for i, w := range writes {
		resp, err := c.WriteSyncMetadata(ctx, w.ID, w.Metadata)
		results[i] = ports.SyncWriteResult{Response: resp, Err: err}
		if code := ports.CodeOf(err); err != nil && code != ports.CodeNotFound && code != ports.CodeInvalidRequest {
			for j := i + 1; j < len(results); j++ {
				results[j].Err = err
			}
			break
		}
	}
	return results, nil
}
