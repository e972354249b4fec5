package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/quantixvm/quantix/core/vm"
)

// BenchmarkEventNotify compares, on PostgreSQL with 4 concurrent writers,
// appending a VM event the way the store does (in_tx: the event order lock
// and the NOTIFY in the appending transaction) with the alternatives: none
// (neither: a single server's cost before streams across servers),
// after_commit (NOTIFY in a statement of its own after the commit, ids not
// in commit order), lock_only (the lock without NOTIFY) and
// lock_after_commit (the lock, and NOTIFY after the commit).
func BenchmarkEventNotify(b *testing.B) {
	s, _ := openFresh(b, backend{name: dialectPostgres, fresh: freshPostgres})
	ctx := context.Background()
	for i := range 4 {
		if err := s.VMs().Create(ctx, fullVM(fmt.Sprintf("w%d", i), fmt.Sprintf("w%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	insert := func(tx *gorm.DB, vmID string) (int64, error) {
		row := toEventRow(&vm.Event{VMID: vmID, Action: "x", Time: normTime(time.Now())})
		err := tx.Create(&row).Error
		return row.ID, err
	}
	modes := map[string]func(vmID string) error{
		"in_tx": func(vmID string) error {
			return s.Events().Append(ctx, &vm.Event{VMID: vmID, Action: "x"})
		},
		"after_commit": func(vmID string) error {
			id, err := insert(s.w.WithContext(ctx), vmID)
			if err != nil {
				return err
			}
			return s.notifyVMEvents(s.w.WithContext(ctx), id)
		},
		"lock_only": func(vmID string) error {
			return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				if err := s.lockEvents(tx); err != nil {
					return err
				}
				_, err := insert(tx, vmID)
				return err
			})
		},
		"lock_after_commit": func(vmID string) error {
			var id int64
			err := s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				if err := s.lockEvents(tx); err != nil {
					return err
				}
				var err error
				id, err = insert(tx, vmID)
				return err
			})
			if err != nil {
				return err
			}
			return s.notifyVMEvents(s.w.WithContext(ctx), id)
		},
		"none": func(vmID string) error {
			_, err := insert(s.w.WithContext(ctx), vmID)
			return err
		},
	}
	for _, name := range []string{"none", "after_commit", "lock_only", "lock_after_commit", "in_tx"} {
		fn := modes[name]
		b.Run(name, func(b *testing.B) {
			var w atomic.Int64
			b.SetParallelism(2) // 2 × GOMAXPROCS (2 here) = 4 writers
			b.RunParallel(func(pb *testing.PB) {
				vmID := fmt.Sprintf("w%d", w.Add(1)%4)
				for pb.Next() {
					if err := fn(vmID); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
