package wire

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// TimeToProto returns nil for the zero time.
func TimeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// TimeFromProto returns the zero time for nil.
func TimeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}
