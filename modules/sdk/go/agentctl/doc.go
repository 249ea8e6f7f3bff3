// Package agentctl is the Go SDK for agent-ctl tools: GOOS=wasip1 GOARCH=wasm
// modules that read their parameters from the command line agent-ctl builds
// from the manifest, print JSON, and reach the network through the agent_ctl
// host functions (docs/host-functions.md).
//
//	func main() {
//		args := agentctl.Parse("greet", "name count:int shout:bool")
//		name := args.Require("name")
//		agentctl.PrintJSON(agentctl.Obj("greeting", "hello, "+name, "count", args.Int("count", 1)))
//	}
//
// Built for another GOOS (native unit tests), the network functions answer
// ErrDenied, as a host that granted nothing would.
package agentctl
