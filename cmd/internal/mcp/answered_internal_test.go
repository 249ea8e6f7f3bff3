package mcp

import (
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestAnswerAfter: when each transport says a call's answer is out. Over
// HTTP, once the gate has served the request that carried the call (and
// at once for a request it has served already or does not know); over a
// watched stdio writer, at its next write; otherwise as the handler
// returns.
func TestAnswerAfter(t *testing.T) {
	isClosed := func(ch chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	for _, tc := range []struct {
		name string
		// setup returns the request of a call, and what makes its answer
		// out (nil: nothing needed).
		setup func(s *Server) (*mcp.CallToolRequest, func())
	}{
		{"http", func(s *Server) (*mcp.CallToolRequest, func()) {
			lr := &liveReq{id: "r1"}
			s.reqs.Store(lr.id, lr)
			return &mcp.CallToolRequest{Extra: &mcp.RequestExtra{Header: http.Header{requestHeader: {lr.id}}}}, lr.answersOut
		}},
		{"http, request served already", func(s *Server) (*mcp.CallToolRequest, func()) {
			lr := &liveReq{id: "r2"}
			s.reqs.Store(lr.id, lr)
			lr.answersOut()
			return &mcp.CallToolRequest{Extra: &mcp.RequestExtra{Header: http.Header{requestHeader: {lr.id}}}}, nil
		}},
		{"http, request unknown", func(s *Server) (*mcp.CallToolRequest, func()) {
			return &mcp.CallToolRequest{Extra: &mcp.RequestExtra{Header: http.Header{requestHeader: {"gone"}}}}, nil
		}},
		{"stdio", func(s *Server) (*mcp.CallToolRequest, func()) {
			s.answers.watch(true)
			return &mcp.CallToolRequest{}, s.answers.written
		}},
		{"stdio, writer no longer watched", func(s *Server) (*mcp.CallToolRequest, func()) {
			s.answers.watch(true)
			return &mcp.CallToolRequest{}, func() { s.answers.watch(false) }
		}},
		{"in memory", func(s *Server) (*mcp.CallToolRequest, func()) {
			return &mcp.CallToolRequest{}, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(nil)
			req, out := tc.setup(s)
			ch := make(chan struct{})
			s.answerAfter(ch, req)
			if out == nil {
				if !isClosed(ch) {
					t.Fatal("not closed as the handler returned")
				}
				return
			}
			if isClosed(ch) {
				t.Fatal("closed before the answer was out")
			}
			out()
			if !isClosed(ch) {
				t.Fatal("not closed once the answer was out")
			}
		})
	}
}
