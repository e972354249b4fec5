package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"gorm.io/gorm"
)

func readMigrations(t testing.TB, db *gorm.DB) []schemaMigration {
	t.Helper()
	var rows []schemaMigration
	if err := db.Order("version").Find(&rows).Error; err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	return rows
}

func TestMigrationsList(t *testing.T) {
	if err := checkMigrations(migrations); err != nil {
		t.Fatal(err)
	}
	bad := []migration{{Version: 1, Name: "a", SQLite: []string{"x"}, Postgres: []string{"x"}}, {Version: 3, Name: "b", SQLite: []string{"x"}, Postgres: []string{"x"}}}
	if err := checkMigrations(bad); err == nil {
		t.Error("a gap in versions passed the check")
	}
	if err := checkMigrations([]migration{{Version: 1, Name: "a", SQLite: []string{"x"}}}); err == nil {
		t.Error("a migration without PostgreSQL SQL passed the check")
	}
}

func TestMigrations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Run("recorded, and reopening applies nothing", func(t *testing.T) {
			driver, dsn := b.fresh(t)
			s := openAt(t, driver, dsn)
			first := readMigrations(t, s.w)
			if len(first) != len(migrations) {
				t.Fatalf("%d migrations recorded, want %d", len(first), len(migrations))
			}
			for i, m := range migrations {
				r := first[i]
				if r.Version != m.Version || r.Name != m.Name || time.Since(time.Time(r.AppliedAt)) > time.Minute {
					t.Errorf("row %d = %+v, want version %d %q applied just now", i, r, m.Version, m.Name)
				}
			}
			mustCreate(t, s, fullVM("keep", "keep"))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var buf syncBuffer
			again, err := Open(ctx, driver, dsn, hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: &buf}))
			if err != nil {
				t.Fatalf("reopening: %v", err)
			}
			defer again.Close()
			s2 := again.(*sqlStore)
			second := readMigrations(t, s2.w)
			if fmt.Sprint(second) != fmt.Sprint(first) {
				t.Errorf("reopening changed schema_migrations:\n%v\n%v", first, second)
			}
			if strings.Contains(buf.String(), "applied database migration") {
				t.Errorf("reopening applied a migration: %s", buf.String())
			}
			if _, err := again.VMs().Get(ctx, "keep"); err != nil {
				t.Errorf("data lost on reopen: %v", err)
			}
		})

		t.Run("future version refused", func(t *testing.T) {
			driver, dsn := b.fresh(t)
			s := openAt(t, driver, dsn)
			future := len(migrations) + 2
			rec := schemaMigration{Version: future, Name: "from the future", AppliedAt: dbTime(time.Now())}
			if err := s.w.Create(&rec).Error; err != nil {
				t.Fatal(err)
			}
			st, err := Open(ctx, driver, dsn, nil)
			if err == nil {
				st.Close()
				t.Fatal("Open of a database from a newer quantixd succeeded")
			}
			want := fmt.Sprintf("database schema version %d is newer than this quantixd supports (%d); upgrade quantixd", future, len(migrations))
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open = %v, want it to say %q", err, want)
			}
			var tooNew *SchemaTooNewError
			if !errors.As(err, &tooNew) || tooNew.Database != future || tooNew.Supported != len(migrations) {
				t.Errorf("Open error %v is not a *SchemaTooNewError{%d, %d}", err, future, len(migrations))
			}
		})

		t.Run("pending ones applied in order", func(t *testing.T) {
			driver, dsn := b.fresh(t)
			s := openWith(t, driver, dsn, migrations[:1])
			if got := readMigrations(t, s.w); len(got) != 1 {
				t.Fatalf("%d migrations recorded, want 1", len(got))
			}
			if s.w.Migrator().HasTable("vms") {
				t.Fatal("vms exists after migration 1 only")
			}
			s.Close()
			s = openAt(t, driver, dsn)
			if got := readMigrations(t, s.w); len(got) != len(migrations) {
				t.Fatalf("%d migrations recorded, want %d", len(got), len(migrations))
			}
			mustCreate(t, s, bareVM("v", "v"))
		})

		t.Run("a failing migration leaves no trace", func(t *testing.T) {
			driver, dsn := b.fresh(t)
			broken := append(append([]migration{}, migrations...), migration{
				Version:  len(migrations) + 1,
				Name:     "broken",
				SQLite:   []string{"CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"},
				Postgres: []string{"CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"},
			})
			_, err := openWithErr(driver, dsn, broken)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("migration %d (broken), statement 2", len(migrations)+1)) {
				t.Fatalf("Open with a broken migration = %v", err)
			}
			s := openAt(t, driver, dsn)
			if got := readMigrations(t, s.w); len(got) != len(migrations) {
				t.Errorf("%d migrations recorded, want %d", len(got), len(migrations))
			}
			if s.w.Migrator().HasTable("half_done") {
				t.Error("the broken migration's first statement was kept")
			}
		})

		t.Run("concurrent first open", func(t *testing.T) {
			driver, dsn := b.fresh(t)
			const openers = 4
			var wg sync.WaitGroup
			errs := make([]error, openers)
			for i := range openers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, err := Open(ctx, driver, dsn, nil)
					if err != nil {
						errs[i] = err
						return
					}
					errs[i] = st.Close()
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("opener %d: %v", i, err)
				}
			}
			s := openAt(t, driver, dsn)
			got := readMigrations(t, s.w)
			if len(got) != len(migrations) {
				t.Errorf("%d migrations recorded, want %d: %v", len(got), len(migrations), got)
			}
		})

		t.Run("schema", func(t *testing.T) {
			s, _ := openFresh(t, b)
			for _, table := range []string{"vms", "vm_labels", "nodes", "vm_events", "schema_migrations", "users", "api_tokens", "sessions"} {
				if !s.w.Migrator().HasTable(table) {
					t.Errorf("table %s missing", table)
				}
			}
			for table, indexes := range map[string][]string{
				"vms":        {"vms_managed_name_key", "vms_created_at_id_idx", "vms_node_id_state_idx", "vms_state_idx"},
				"vm_labels":  {"vm_labels_key_value_idx"},
				"vm_events":  {"vm_events_vm_id_id_idx"},
				"nodes":      {"nodes_name_key"},
				"users":      {"users_name_key"},
				"api_tokens": {"api_tokens_prefix_key", "api_tokens_user_id_idx"},
				"sessions":   {"sessions_hash_key", "sessions_user_id_idx", "sessions_expires_at_idx"},
			} {
				for _, idx := range indexes {
					if !s.w.Migrator().HasIndex(table, idx) {
						t.Errorf("index %s on %s missing", idx, table)
					}
				}
			}
			mustCreate(t, s, fullVM("j", "j"))
			if driver := b.name; driver == dialectPostgres {
				var typ string
				if err := s.w.Raw("SELECT jsonb_typeof(spec) FROM vms WHERE id = 'j'").Scan(&typ).Error; err != nil || typ != "object" {
					t.Errorf("spec stored as JSON %q (%v), want an object", typ, err)
				}
			} else {
				var created string
				if err := s.w.Raw("SELECT created_at FROM vms WHERE id = 'j'").Scan(&created).Error; err != nil || created != "2026-02-28T08:00:00.000001Z" {
					t.Errorf("created_at stored as %q (%v)", created, err)
				}
			}
		})
	})
}

func openWithErr(driver, dsn string, list []migration) (*sqlStore, error) {
	l := hclog.NewNullLogger()
	if driver == dialectSQLite {
		return openSQLite(context.Background(), dsn, l, list)
	}
	return openPostgres(context.Background(), dsn, l, list)
}

func openWith(t testing.TB, driver, dsn string, list []migration) *sqlStore {
	t.Helper()
	s, err := openWithErr(driver, dsn, list)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
