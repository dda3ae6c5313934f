module github.com/nanoclaw/nanoclaw-go

go 1.26

require (
	github.com/fsnotify/fsnotify v1.10.1
	github.com/hashicorp/go-hclog v1.6.3
	github.com/mattn/go-isatty v0.0.14
	github.com/tetratelabs/wazero v1.12.0
)

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	golang.org/x/sys v0.44.0 // indirect
)
