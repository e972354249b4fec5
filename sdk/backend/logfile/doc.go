// Package logfile reads a VM's hypervisor log file for backends: Tail reads
// the last lines backwards from the end, so its cost is bound by the number
// of lines and not the file size; Follow follows the file across truncation
// and rotation. Both plugins/libvirt and plugins/sim serve TailLog and
// StreamLog with it.
package logfile
