module updateconfig

go 1.26

require (
	github.com/agent-ctl/agent-ctl/modules/sdk/go v0.0.0
	go.yaml.in/yaml/v3 v3.0.6
)

replace github.com/agent-ctl/agent-ctl/modules/sdk/go => ../sdk/go
