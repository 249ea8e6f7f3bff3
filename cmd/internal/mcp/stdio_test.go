package mcp

import (
	"context"
	"testing"
	"time"
)

// TestFlight: requests are open until answered or cancelled, whatever the
// spelling of their IDs, and lines may arrive in pieces.
func TestFlight(t *testing.T) {
	f := newFlight()
	in := `{"jsonrpc":"2.0","id":1,"method":"tools/call"}` + "\n" +
		`{"jsonrpc":"2.0","id":"a","method":"ping"}` + "\n" +
		`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n" +
		`{"jsonrpc":"2.0","id":2,"method":"tools/call"}` + "\n" +
		`{"jsonrpc":"2.0","id":9,"result":{}}` + "\n" // the client's answer to a server request
	for i := 0; i < len(in); i += 7 { // in pieces
		f.in.feed([]byte(in[i:min(i+7, len(in))]), f.received)
	}
	if len(f.open) != 3 {
		t.Fatalf("open = %v, want 1, \"a\" and 2", f.open)
	}
	f.out.feed([]byte(`{"jsonrpc":"2.0","id":1.0,"result":{}}`+"\n"+`{"jsonrpc":"2.0","id":5,"method":"ping"}`+"\n"), f.sent)
	f.in.feed([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`+"\n"), f.received)
	if len(f.open) != 1 || !f.open[`"a"`] {
		t.Fatalf("open = %v, want only \"a\"", f.open)
	}
	go f.out.feed([]byte(`{"jsonrpc":"2.0","id":"\u0061","result":{}}`+"\n"), f.sent)
	f.waitAnswered(context.Background(), time.Minute)
	if len(f.open) != 0 {
		t.Errorf("open = %v after waitAnswered, want none", f.open)
	}
}
