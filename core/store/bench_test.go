package store

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/quantixvm/quantix/core/vm"
)

// benchVMs is how many VMs the list benchmarks run against.
const benchVMs = 10000

// benchListTarget is the p99 a List page should stay under.
const benchListTarget = 20 * time.Millisecond

// seedBatch is the rows per INSERT when seeding: 19 columns x 500 rows stays
// under both drivers' bind parameter limits.
const seedBatch = 500

// seedVMs inserts n VMs (with two or three labels each) in one transaction
// with batched inserts, and returns them in (created_at, id) order.
func seedVMs(tb testing.TB, s *sqlStore, n int) []vmRow {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	states := []vm.State{vm.StateRunning, vm.StateStopped, vm.StatePaused, vm.StateCrashed}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]vmRow, 0, n)
	labels := make([]labelRow, 0, 3*n)
	for i := range n {
		id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)
		v := &vm.VM{
			ID: id, Name: fmt.Sprintf("vm-%05d", i), Origin: vm.OriginControlPlane, IsManaged: true,
			DesiredState: vm.DesiredRunning, RestartPolicy: vm.RestartNever,
			Spec: vm.Spec{VCPUs: 2, MemoryMiB: 2048,
				Disks: []vm.Disk{{Name: "root", SizeGiB: 20, Bus: "virtio", Path: "/var/lib/quantix/" + id + ".qcow2"}},
				NICs:  []vm.NIC{{Type: "network", Source: "default", Model: "virtio"}},
				Boot:  []string{"hd"}},
			NodeID: fmt.Sprintf("node-%02d", i%20), State: states[i%len(states)],
			Labels: map[string]string{"env": []string{"prod", "dev", "test"}[i%3], "app": fmt.Sprintf("app-%d", i%50)},
			// Pairs of VMs share a created_at: the id tie-break is exercised.
			CreatedAt: base.Add(time.Duration(i/2) * time.Millisecond),
			Version:   1,
		}
		if i%10 == 0 {
			v.Labels["tier"] = "web"
		}
		normalizeVM(v)
		v.UpdatedAt, v.StateChangedAt = v.CreatedAt, v.CreatedAt
		row, lrows := toVMRow(v)
		rows = append(rows, row)
		labels = append(labels, lrows...)
	}
	start := time.Now()
	err := s.w.Transaction(func(tx *gorm.DB) error {
		if err := tx.CreateInBatches(rows, seedBatch).Error; err != nil {
			return err
		}
		return tx.CreateInBatches(labels, 3*seedBatch).Error
	})
	if err != nil {
		tb.Fatalf("seeding %d VMs: %v", n, err)
	}
	// Settle the database as one in use would be: statistics fresh and, on
	// PostgreSQL, vacuumed (autovacuum would otherwise start during the
	// measurements); on SQLite the WAL checkpointed into the main file.
	settle := []string{"ANALYZE vms", "ANALYZE vm_labels"}
	if s.dialect == dialectPostgres {
		settle = []string{"VACUUM ANALYZE vms", "VACUUM ANALYZE vm_labels"}
	} else {
		settle = append(settle, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	for _, stmt := range settle {
		if err := s.w.Exec(stmt).Error; err != nil {
			tb.Fatalf("%s: %v", stmt, err)
		}
	}
	tb.Logf("%s: seeded %d VMs and %d labels in %v", s.dialect, n, len(labels), time.Since(start).Round(time.Millisecond))
	slices.SortFunc(rows, func(a, b vmRow) int {
		if c := time.Time(a.CreatedAt).Compare(time.Time(b.CreatedAt)); c != 0 {
			return c
		}
		return cmpString(a.ID, b.ID)
	})
	return rows
}

// latencies collects per-operation durations for percentiles.
type latencies []time.Duration

func (l latencies) pct(p int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := len(s) * p / 100
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rawBaselineSQL is the least work a first page can be: ids only, through
// database/sql, no labels, no decoding.
const rawBaselineSQL = "SELECT id FROM vms ORDER BY created_at, id LIMIT 100"

// rawPage runs rawBaselineSQL on the read pool and reads the ids.
func rawPage(b *testing.B, s *sqlStore) {
	db, err := s.r.DB()
	if err != nil {
		b.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, rawBaselineSQL)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	rows.Close()
	if n != 100 {
		b.Fatalf("raw baseline read %d rows, want 100", n)
	}
}

// benchList measures List(opts); after each List (timer stopped) it runs
// the raw baseline, so the ratio compares the two under the same conditions.
func benchList(b *testing.B, s *sqlStore, opts ListOptions, wantLen int) {
	var list, raw latencies
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		page, _, err := s.VMs().List(ctx, opts)
		list = append(list, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if len(page) != wantLen {
			b.Fatalf("page of %d VMs, want %d", len(page), wantLen)
		}
		b.StopTimer()
		start = time.Now()
		rawPage(b, s)
		raw = append(raw, time.Since(start))
		b.StartTimer()
	}
	b.StopTimer()
	p50, p99, raw50 := list.pct(50), list.pct(99), raw.pct(50)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(raw50), "raw-p50-ms")
	if raw50 > 0 {
		b.ReportMetric(float64(p50)/float64(raw50), "x-raw-p50")
	}
	if p99 > benchListTarget && b.N >= 100 {
		b.Logf("p99 %v is over the %v target", p99, benchListTarget)
	}
}

// BenchmarkStore runs on each backend, against benchVMs stored VMs:
// List first and deep pages (p50/p99 and the ratio to a raw SELECT of ids),
// a label-filtered page, the raw baseline alone, and Create throughput.
// Under -short the seed is skipped, and with it the list benchmarks.
func BenchmarkStore(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, _ := openFresh(b, be)
			var rows []vmRow
			if !testing.Short() {
				rows = seedVMs(b, s, benchVMs)
			}
			needSeed := func(b *testing.B) {
				if rows == nil {
					b.Skipf("-short: the %d-VM seed is skipped", benchVMs)
				}
			}
			b.Run("List/first-page", func(b *testing.B) {
				needSeed(b)
				benchList(b, s, ListOptions{Limit: 100}, 100)
			})
			b.Run("List/deep-page", func(b *testing.B) {
				needSeed(b)
				at := rows[benchVMs*9/10-1]
				cursor := encodeCursor(time.Time(at.CreatedAt), at.ID)
				benchList(b, s, ListOptions{Limit: 100, Cursor: cursor}, 100)
			})
			b.Run("List/label-and-state", func(b *testing.B) {
				needSeed(b)
				// env=prod (1/3) and tier=web (1/10) and RUNNING (1/4): a
				// sparse filter that scans deep for 100 matches.
				benchList(b, s, ListOptions{Limit: 100, State: vm.StateRunning,
					Labels: map[string]string{"env": "prod", "tier": "web"}}, 100)
			})
			b.Run("List/search-common", func(b *testing.B) {
				needSeed(b)
				// A name part most VMs have: the page fills at once.
				benchList(b, s, ListOptions{Limit: 100, Search: "VM-0"}, 100)
			})
			b.Run("List/search-one", func(b *testing.B) {
				needSeed(b)
				// A name only one VM has: every VM is read to the end.
				benchList(b, s, ListOptions{Limit: 100, Search: "m-09999"}, 1)
			})
			b.Run("RawBaseline", func(b *testing.B) {
				needSeed(b)
				var lat latencies
				b.ResetTimer()
				for range b.N {
					start := time.Now()
					rawPage(b, s)
					lat = append(lat, time.Since(start))
				}
				b.StopTimer()
				b.ReportMetric(ms(lat.pct(50)), "p50-ms")
				b.ReportMetric(ms(lat.pct(99)), "p99-ms")
			})
			b.Run("Create", func(b *testing.B) {
				var lat latencies
				prefix := fmt.Sprintf("bench-%d-", time.Now().UnixNano())
				b.ReportAllocs()
				b.ResetTimer()
				began := time.Now()
				for i := range b.N {
					v := bareVM(fmt.Sprint(prefix, i), fmt.Sprint(prefix, i))
					v.Labels = map[string]string{"env": "bench", "app": "create"}
					v.Spec = vm.Spec{VCPUs: 1, MemoryMiB: 512, Disks: []vm.Disk{{Name: "root", SizeGiB: 10}}}
					start := time.Now()
					if err := s.VMs().Create(ctx, v); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				elapsed := time.Since(began)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "creates/s")
				b.ReportMetric(ms(lat.pct(50)), "p50-ms")
				b.ReportMetric(ms(lat.pct(99)), "p99-ms")
			})
		})
	}
}
