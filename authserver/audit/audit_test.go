package audit

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestEventIsNamedAndFiltered(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	a := New(zap.New(core))
	a.Event(TokenIssued, zap.String("client_id", "app"), TokenRef("0123456789abcdef0123456789"))
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d entries", len(entries))
	}
	e := entries[0]
	if e.LoggerName != "audit" || e.Message != TokenIssued {
		t.Fatalf("entry %q from %q", e.Message, e.LoggerName)
	}
	fields := e.ContextMap()
	if fields["event"] != TokenIssued || fields["client_id"] != "app" || fields["token_hash"] != "0123456789abcdef" {
		t.Fatalf("fields %v", fields)
	}
	Log{}.Event(TokenIssued) // the zero Log writes nothing and does not panic
}
