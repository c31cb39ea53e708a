package ports_test

import (
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

func TestIsID(t *testing.T) {
	for s, want := range map[string]bool{
		"5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b10":   true,
		"5D0F6A8E-2C1B-4F57-9A43-0D8E2F1C7B10":   true,
		"":                                       false,
		"5d0f6a8e2c1b4f579a430d8e2f1c7b10":       false,
		"5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b1":    false,
		"5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b100":  false,
		"5d0f6a8e-2c1b-4f57-9a43_0d8e2f1c7b10":   false,
		"5d0f6a8g-2c1b-4f57-9a43-0d8e2f1c7b10":   false,
		"{5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c7b10}": false,
		"5d0f6a8e-2c1b-4f57-9a43-0d8e2f1c)?$x=1": false,
	} {
		if got := ports.IsID(s); got != want {
			t.Errorf("IsID(%q) = %v, want %v", s, got, want)
		}
	}
}
