package memory_test

import (
	"testing"

	"github.com/hlf/dynamicsportal/adapters/memory"
	"github.com/hlf/dynamicsportal/ports"
	"github.com/hlf/dynamicsportal/ports/passstoretest"
)

func TestPassStoreSuite(t *testing.T) {
	passstoretest.Run(t, func(*testing.T) passstoretest.Harness {
		s := memory.New()
		return passstoretest.Harness{
			Open: func(*testing.T) ports.PassStore { return s },
			Stored: func(*testing.T) []string {
				var lines []string
				for _, r := range s.Records() {
					lines = append(lines, r.ID+" "+r.Computed.String())
				}
				return lines
			},
		}
	})
}
