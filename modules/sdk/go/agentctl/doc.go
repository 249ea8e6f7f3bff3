// Package agentctl is the Go SDK for agent-ctl tools: GOOS=wasip1 GOARCH=wasm
// modules that read their parameters from the command line agent-ctl builds
// from the manifest, print JSON, and reach the network through the agent_ctl
// host functions (docs/host-functions.md).
//
//	//go:embed manifest.json
//	var manifest []byte
//
//	func main() {
//		args := agentctl.ParseManifest(manifest) // the flags inputSchema declares
//		name := args.Require("name")
//		agentctl.PrintJSON(agentctl.Obj("name", name, "count", args.Int("count", 1)))
//	}
//
// Parse takes the flags as a spec instead ("name count:int shout:bool").
//
// Built for another GOOS (native unit tests), the network functions answer
// ErrDenied, as a host that granted nothing would.
package agentctl
