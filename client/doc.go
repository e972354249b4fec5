// Package client is a Go client of the Quantix REST API (docs/api.md and
// docs/logs.md): VMs and their actions, logs and events, nodes, the log
// store and the server-sent event streams. It depends only on the standard
// library.
//
//	c, err := client.New("http://127.0.0.1:8080", "")
//	...
//	vm, err := c.CreateVM(ctx, client.CreateVMRequest{Name: "web-1", VCPUs: 1, MemoryMiB: 512})
//	res, err := c.StartVM(ctx, "web-1")
//
// VMs and nodes are addressed by id or name. A reply of the API that is an
// error is an *APIError carrying the status code and the API's message; a
// server that cannot be reached is an *UnreachableError naming the address
// tried. Decoded replies keep the JSON they came from in their Raw field.
//
// Events and StreamLogs follow server-sent event streams (SSEReader reads
// any text/event-stream) until their context ends.
package client
