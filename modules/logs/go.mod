module logs

go 1.26

require github.com/agent-ctl/agent-ctl/modules/sdk/go v0.0.0

replace github.com/agent-ctl/agent-ctl/modules/sdk/go => ../sdk/go
