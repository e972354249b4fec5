// The console's sources are an npm project, not Go: this empty module keeps
// `go build ./...`, `go vet ./...` and `go test ./...` of the main module
// out of ui/ (and its node_modules).
module quantix-ui-sources

go 1.22
