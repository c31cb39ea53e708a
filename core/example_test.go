package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hlf/dynamicsportal/adapters/memory"
	"github.com/hlf/dynamicsportal/adapters/stub"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/ports"
)

func ExampleNewSyncService() {
	// The stub stands in for the portal; a host wires the real adapter the
	// same way. Records and progress are kept in memory.
	svc, err := core.NewSyncService(stub.New(nil), memory.New(), &core.SyncOptions{
		PageSize:       500,
		ExpiringWithin: 30 * 24 * time.Hour,
		Budget:         time.Hour,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	report, err := svc.Run(context.Background())
	if err != nil {
		fmt.Println("sync stopped:", ports.CodeOf(err), err)
	}
	// The counts, without the times, which change with each run.
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(report.SyncCounts)
	fmt.Println("complete:", report.Complete, "resumed:", report.Resumed)
	// Output:
	// {
	//   "read": 0,
	//   "pages": 1,
	//   "status": {
	//     "valid": 0,
	//     "expiring": 0,
	//     "expired": 0,
	//     "inactive": 0
	//   },
	//   "writes": {
	//     "done": 0,
	//     "unchanged": 0,
	//     "failed": 0,
	//     "deleted": 0
	//   }
	// }
	// complete: true resumed: false
}

func ExampleClassify() {
	today := ports.Date{Year: 2026, Month: time.November, Day: 28}
	for _, expires := range []string{"2026-11-27", "2026-11-28", "2026-12-28", "2026-12-29"} {
		d, _ := ports.ParseDate(expires)
		fmt.Println(expires, core.Classify(ports.Certification{ExpiresOn: d}, today, 30))
	}
	fmt.Println("no expiry", core.Classify(ports.Certification{}, today, 30))
	fmt.Println("inactive", core.Classify(ports.Certification{State: ports.StateInactive}, today, 30))
	// Output:
	// 2026-11-27 expired
	// 2026-11-28 expiring
	// 2026-12-28 expiring
	// 2026-12-29 valid
	// no expiry valid
	// inactive inactive
}
