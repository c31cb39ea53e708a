package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/mocks"
	"github.com/hlf/dynamicsportal/ports"
	"go.uber.org/mock/gomock"
)

func TestAPassMirrorsEveryAssignment(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}), cert(2, days(400), 0, time.Time{}), cert(3, days(400), 0, time.Time{}))
	e := newEnv(t, p)
	a := newAssignments(5, 2)
	rep, err := e.service(t, core.SyncOptions{PageSize: 2, Assignments: a.install(e, t)}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"51", "52"}, {"53", "54"}, {"55"}}; !slices.EqualFunc(a.pages, want, slices.Equal) {
		t.Errorf("assignment pages %v, want %v", a.pages, want)
	}
	if want := []bool{false, false, true}; !slices.Equal(a.lasts, want) {
		t.Errorf("last flags %v, want %v", a.lasts, want)
	}
	if rep.Assignments != 5 || !rep.Complete || rep.Read != 3 {
		t.Errorf("report %+v, want 5 assignments and a complete pass of 3", rep)
	}
}

// A resumed pass reads the assignments again, and still writes no
// certification that the interrupted run wrote.
func TestAResumedPassReadsAssignmentsAgain(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}), cert(2, days(400), 0, time.Time{}), cert(3, days(400), 0, time.Time{}))
	e := newEnv(t, p)
	a := newAssignments(3, 5)
	p.pageErr[2] = []error{&ports.PortalError{Code: ports.CodeServerError, Op: "ListCertifications", StatusCode: 500}}
	svc := e.service(t, core.SyncOptions{PageSize: 2, Assignments: a.install(e, t)})
	if _, err := svc.Run(t.Context()); ports.CodeOf(err) != ports.CodeServerError {
		t.Fatalf("first run: %v, want serverError", err)
	}
	written := p.Written()
	// The failed page may stop the first run's mirror before it reads
	// anything; the resumed run reads every assignment again, once.
	if a.reads > 1 {
		t.Errorf("first run read assignments %d times, want at most once", a.reads)
	}
	a.reads, a.pages, a.lasts = 0, nil, nil
	rep, err := svc.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if a.reads != 1 || len(a.pages) != 1 || len(a.pages[0]) != 3 || !a.lasts[0] {
		t.Errorf("resumed run read assignments %d times into pages %v (last %v), want all 3 in one last page", a.reads, a.pages, a.lasts)
	}
	if !rep.Resumed || rep.Assignments != 3 {
		t.Errorf("report %+v, want a resumed run that mirrored 3 assignments", rep)
	}
	if got := p.Written(); len(got) != 3 || !slices.Equal(got[:2], written) {
		t.Errorf("written %v after the resume, first run wrote %v: want each record once", got, written)
	}
}

// The assignments are mirrored beside the certification pages; a pass
// whose assignments failed stops without its last page, so it is never
// complete without them, and keeps its checkpoint to resume from.
func TestAFailedAssignmentReadStopsThePass(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}))
	e := newEnv(t, p)
	a := newAssignments(3, 2)
	a.errs = []error{&ports.PortalError{Code: ports.CodeAuthFailure, Op: "ListAssignments", StatusCode: 401}}
	rep, err := e.service(t, core.SyncOptions{Assignments: a.install(e, t)}).Run(t.Context())
	if ports.CodeOf(err) != ports.CodeAuthFailure || !strings.Contains(err.Error(), "read assignments page 1") {
		t.Errorf("Run = %v, want authFailure on the first assignments page", err)
	}
	if rep.Complete || rep.Pages != 0 || len(e.store.pages) != 0 {
		t.Errorf("report %+v, sink pages %d: want the last page not stored", rep, len(e.store.pages))
	}
	if e.store.cp == nil || e.store.finishes != 0 {
		t.Error("the pass's checkpoint is gone; a resumed run would start over")
	}
}

// A failed certification page stops the assignments being mirrored beside
// it, and Run returns only once the mirror has stopped.
func TestAFailedPageStopsTheAssignmentMirror(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}))
	p.pageErr[0] = []error{&ports.PortalError{Code: ports.CodeServerError, Op: "ListCertifications", StatusCode: 500}}
	e := newEnv(t, p)
	a := newAssignments(10, 1)
	a.install(e, t)
	// The sink stores nothing until the pass is cancelled, and the
	// certification page is read (and fails) once the sink is entered.
	var returned atomic.Bool
	entered := make(chan struct{})
	p.onList = func() { <-entered }
	sink := mocks.NewMockAssignmentSink(gomock.NewController(t))
	sink.EXPECT().WriteAssignments(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, _ []ports.Assignment, _ bool) error {
		close(entered)
		<-ctx.Done()
		returned.Store(true)
		return ctx.Err()
	})
	_, err := e.service(t, core.SyncOptions{Assignments: sink}).Run(t.Context())
	if ports.CodeOf(err) != ports.CodeServerError {
		t.Fatalf("Run = %v, want the page's serverError", err)
	}
	if !returned.Load() || a.reads != 1 {
		t.Errorf("assignment sink returned %v, %d assignment pages read: want the mirror stopped on its first page before Run returned", returned.Load(), a.reads)
	}
}

func TestAThrottledAssignmentReadWaitsAndGoesOn(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}))
	e := newEnv(t, p)
	a := newAssignments(1, 2)
	a.errs = []error{throttled(7 * time.Second)}
	rep, err := e.service(t, core.SyncOptions{Assignments: a.install(e, t)}).Run(t.Context())
	if err != nil || rep.Assignments != 1 {
		t.Fatalf("Run = %+v, %v", rep, err)
	}
	if got := e.clock.Sleeps(); !slices.Equal(got, []time.Duration{7 * time.Second}) {
		t.Errorf("sleeps %v, want the 7s the portal asked for", got)
	}
}

func TestWithoutAnAssignmentSinkNoAssignmentIsRead(t *testing.T) {
	p := newPortal(2, cert(1, days(400), 0, time.Time{}))
	e := newEnv(t, p)
	// No ListAssignments expectation: gomock fails the test on a call.
	rep, err := e.service(t, core.SyncOptions{}).Run(t.Context())
	if err != nil || rep.Assignments != 0 {
		t.Fatalf("Run = %+v, %v", rep, err)
	}
	b, _ := json.Marshal(rep)
	if strings.Contains(string(b), "assignments") {
		t.Errorf("report %s names assignments without an assignment sink", b)
	}
}

// A sweep the assignment sink held is told when the pass finishes: the
// pass is complete, every certification page is committed, and the error
// says what was held. The certifications' own held sweep comes first.
func TestAHeldAssignmentSweepIsToldWhenThePassFinishes(t *testing.T) {
	heldAssignments := &ports.DeletionsHeldError{Table: "assignments", Rows: 900, Stored: 905, Threshold: 500}
	for _, tc := range []struct {
		name string
		held error // the certifications' held sweep
		want error
	}{
		{"assignments only", nil, heldAssignments},
		{"both", &ports.DeletionsHeldError{Table: "certifications", Rows: 700, Stored: 710, Threshold: 500}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPortal(2, cert(1, days(400), 0, time.Time{}), cert(2, days(400), 0, time.Time{}), cert(3, days(400), 0, time.Time{}))
			e := newEnv(t, p)
			e.store.finishErr = tc.held
			a := newAssignments(3, 2)
			a.lastErr = heldAssignments
			rep, err := e.service(t, core.SyncOptions{PageSize: 2, Assignments: a.install(e, t)}).Run(t.Context())
			want := tc.want
			if want == nil {
				want = tc.held
			}
			if err != want || !errors.Is(err, ports.ErrDeletionsHeld) {
				t.Errorf("Run = %v, want %v", err, want)
			}
			if !rep.Complete || rep.Read != 3 || rep.Assignments != 3 || e.store.finishes != 1 {
				t.Errorf("report %+v, finishes %d; want a complete pass", rep, e.store.finishes)
			}
		})
	}
}
