package protocol

import (
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Serve runs impl as a go-plugin server on this process's stdout handshake
// and returns when the supervisor disconnects. Nothing may be written to
// stdout before it. Windows workers keep go-plugin's own server (its TCP
// listener on the loopback); unix workers have a smaller one of their own
// (serve_unix.go).
func Serve(impl Worker) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         plugin.PluginSet{pluginName: &workerPlugin{impl: impl}},
		Logger:          hclog.NewNullLogger(),
	})
}
