// Package controlplane is the VM service behind the REST API: it validates
// requests, writes what users ask for (the spec and desired_state), checks
// each action against the state model of core/vm and dispatches commands to
// the node that hosts the VM.
//
// Two seams shape it:
//
//   - Executor carries a Command to a node and brings back what the host
//     reports afterwards. In `quantixd dev` a LocalAgent runs commands on the
//     supervised backend in the same process; the Dispatcher routes commands
//     to whichever agent serves a node, so remote agents plug in beside it.
//   - Reconciler is the only writer of VM status (state, node, last_seen,
//     message, ...). The service asks it to begin an action, to apply what
//     the host reported, or to set a state it decided on (reset_state,
//     TERMINATED); every state change is stored with a vm.Event in the same
//     transaction. Host reports pushed by agents go through the same type.
//
// Creating a VM reserves its name with a placeholder record in state
// CREATING (keyed by a fresh id, since the hypervisor assigns the real UUID),
// then asks the backend to define it, then swaps the placeholder for the
// record under the backend's UUID in one transaction. Both the swap and the
// insertion of VMs reported by hosts hold the reconciler's insert lock, and a
// report of an unknown UUID whose name matches a CREATING placeholder on that
// node is taken as the VM being created, not as a discovery: the inventory
// never shows the VM twice. While its create runs, reset_state and delete
// refuse the placeholder; one left behind by a crash is cleared with
// reset_state (the host does not know its id, so it becomes STOPPED) and
// then deleted.
package controlplane
