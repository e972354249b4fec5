package sim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/sdk/backend"
)

// idSpace is the name space of the UUIDs of pre-populated VMs.
var idSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/quantixvm/quantix/plugins/sim"))

// PopulatedID returns the UUID of the i-th pre-populated VM of the host
// named hostname: a name-based (version 5) UUID of hostname and i, the same
// in every process and after every restart.
func PopulatedID(hostname string, i int) string {
	return uuid.NewSHA1(idSpace, fmt.Appendf(nil, "%s/%d", hostname, i)).String()
}

// populatedName returns the name of the i-th pre-populated VM.
func populatedName(prefix string, i int) string {
	return fmt.Sprintf("%s-%d", prefix, i)
}

// populationReasons is the state reason a pre-populated VM starts with.
var populationReasons = map[backend.PowerState]string{
	backend.StateRunning:   ReasonBooted,
	backend.StateStopped:   ReasonShutdown,
	backend.StatePaused:    ReasonPaused,
	backend.StateCrashed:   ReasonCrashed,
	backend.StateSuspended: "memory",
}

// rng returns the random source of a host: the same seed and hostname
// give the same sequence.
func rng(seed int64, hostname string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(hostname))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

// mixedState picks a state: about 70% running, 20% stopped, 5% paused and
// 5% crashed.
func mixedState(r *rand.Rand) backend.PowerState {
	switch n := r.IntN(100); {
	case n < 70:
		return backend.StateRunning
	case n < 90:
		return backend.StateStopped
	case n < 95:
		return backend.StatePaused
	default:
		return backend.StateCrashed
	}
}

// populate adds the configured VMs without announcing them (nobody can be
// watching before the first Configure returns); b.mu is held.
func (b *Backend) populate(s *settings) error {
	r := rng(s.cfg.Seed, s.hostname)
	vcpus := []uint32{1, 2, 4, 8}
	mems := []uint64{512, 1024, 2048, 4096, 8192}
	for i := range s.cfg.VMs.Count {
		name := populatedName(s.prefix, i)
		spec := backend.VMSpec{
			Name:      name,
			VCPUs:     vcpus[r.IntN(len(vcpus))],
			MemoryMiB: mems[r.IntN(len(mems))],
			Disks:     []backend.DiskSpec{{SizeGiB: uint64(10 + r.IntN(91))}},
			NICs:      []backend.NICSpec{{Type: backend.NICNetwork, Source: "default", MAC: randomMAC(r), Model: "virtio"}},
			Boot:      []string{"hd"},
		}
		disks, err := planDisks(s.hostname, spec)
		if err != nil {
			return fmt.Errorf("configure: populating vm %s: %w", name, err)
		}
		state := s.state
		if state == "" {
			state = mixedState(r)
		}
		vm := &backend.VM{
			ID:          PopulatedID(s.hostname, i),
			Name:        name,
			State:       state,
			StateReason: populationReasons[state],
			Managed:     s.cfg.VMs.Managed,
			Spec:        spec,
			Disks:       disks,
		}
		if err := b.checkFree("configure: populating", vm); err != nil {
			return err
		}
		b.vms[vm.ID] = vm
		b.names[vm.Name] = vm.ID
	}
	return nil
}

// randomMAC returns a locally administered MAC in QEMU's 52:54:00 range.
func randomMAC(r *rand.Rand) string {
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", r.IntN(256), r.IntN(256), r.IntN(256))
}
