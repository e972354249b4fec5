// Package cptest holds what the control plane's tests share: the real
// backend plugin and daemon binaries (from $QUANTIX_BIN_DIR when `make test`
// built them, otherwise built once per test binary), throw-away stores on
// SQLite and on a real PostgreSQL, the plugin on libvirt's test driver, and
// helpers to look at and sweep qemu:///system with virsh. Call Cleanup from
// TestMain.
//
// Tests that need libvirtd or PostgreSQL fail, not skip, when they are not
// reachable, saying to run `make deps`.
package cptest
