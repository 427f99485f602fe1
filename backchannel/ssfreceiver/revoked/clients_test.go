package revoked

import (
	"testing"
	"time"
)

func TestClientCutOff(t *testing.T) {
	clock := newFakeClock()
	s := New(clock.now)
	at := clock.now()
	if s.ClientCutOff("c1", at.Add(-time.Hour)) {
		t.Fatal("a client without a cut-off is cut off")
	}
	if s.CutOffClient("", at, at.Add(time.Hour)) {
		t.Fatal("an empty client ID was accepted")
	}
	if !s.CutOffClient("c1", at, at.Add(time.Hour)) {
		t.Fatal("cut-off refused")
	}
	cases := []struct {
		name     string
		client   string
		issuedAt time.Time
		want     bool
	}{
		{"issued before", "c1", at.Add(-time.Minute), true},
		{"issued at the cut-off", "c1", at, true},
		{"issued later in the cut-off's second (seconds resolution errs on refusing)", "c1", at.Add(999 * time.Millisecond).Truncate(time.Second).Add(500 * time.Millisecond), true},
		{"issued in the next second", "c1", at.Truncate(time.Second).Add(time.Second), false},
		{"no issue time", "c1", time.Time{}, true},
		{"another client", "c2", at.Add(-time.Minute), false},
		{"no client", "", at.Add(-time.Minute), false},
	}
	for _, c := range cases {
		if got := s.ClientCutOff(c.client, c.issuedAt); got != c.want {
			t.Errorf("%s: ClientCutOff = %v, want %v", c.name, got, c.want)
		}
	}

	// An earlier cut-off does not move it back; a later one moves it on.
	s.CutOffClient("c1", at.Add(-time.Hour), at.Add(time.Minute))
	if !s.ClientCutOff("c1", at.Add(-time.Second)) {
		t.Fatal("an earlier cut-off moved the cut-off back")
	}
	s.CutOffClient("c1", at.Add(10*time.Second), at.Add(2*time.Hour))
	if !s.ClientCutOff("c1", at.Add(5*time.Second)) {
		t.Fatal("a later cut-off was not kept")
	}
	if s.Len() != 1 {
		t.Fatalf("Len = %d, want 1", s.Len())
	}

	// Kept until its latest until plus the sweep grace, then dropped.
	clock.advance(2*time.Hour + SweepGrace - time.Second)
	if s.Sweep() != 0 || !s.ClientCutOff("c1", at) {
		t.Fatal("cut-off dropped before until + grace")
	}
	clock.advance(2 * time.Second)
	if n := s.Sweep(); n != 1 || s.ClientCutOff("c1", at) || s.Len() != 0 {
		t.Fatalf("after until + grace: swept %d, Len %d", n, s.Len())
	}
}

func TestClientCutOffLookupAllocatesNothing(t *testing.T) {
	s := New(nil)
	s.CutOffClient("c1", time.Now(), time.Now().Add(time.Hour))
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() { s.ClientCutOff("c1", now); s.ClientCutOff("c2", now) }); n != 0 {
		t.Fatalf("ClientCutOff allocates %.0f times", n)
	}
}
