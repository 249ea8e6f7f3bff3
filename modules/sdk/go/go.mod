module github.com/agent-ctl/agent-ctl/modules/sdk/go

go 1.24
