package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// StatsRepo is the history of VM resource statistics: one averaged point
// per VM per step (server.stats.history_step), kept until retention
// removes it. A node's history is the sum of its VMs' points.
type StatsRepo interface {
	// Insert stores points; a point of a VM at a time already stored
	// replaces it, so a step written twice (after a restart) is the last
	// one written.
	Insert(ctx context.Context, points []VMStatPoint) error
	// VM returns a VM's points with since <= T < until, oldest first.
	VM(ctx context.Context, vmID string, since, until time.Time) ([]StatPoint, error)
	// Node returns the sum of a node's VMs' points per time with since <=
	// T < until, oldest first.
	Node(ctx context.Context, nodeID string, since, until time.Time) ([]StatPoint, error)
	// Prune removes the points older than before and returns how many.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Top returns the latest point of each VM with one at since or later,
	// the limit VMs of the most CPU first.
	Top(ctx context.Context, since time.Time, limit int) ([]VMStatPoint, error)
}

// StatPoint is one point of a series: rates per second over the step
// starting at T, memory at its end.
type StatPoint struct {
	T time.Time `json:"t"`
	// VCPUs is the VM's vCPUs (a node's: its VMs' sum).
	VCPUs int `json:"vcpus"`
	// CPUCores is the CPU the VM used, in cores (1.5: one core and a half).
	CPUCores       float64 `json:"cpu_cores"`
	MemoryBytes    uint64  `json:"memory_bytes"`
	MemoryRSSBytes uint64  `json:"memory_rss_bytes"`
	DiskReadBps    float64 `json:"disk_read_bps"`
	DiskWriteBps   float64 `json:"disk_write_bps"`
	DiskReadOps    float64 `json:"disk_read_iops"`
	DiskWriteOps   float64 `json:"disk_write_iops"`
	NetRxBps       float64 `json:"net_rx_bps"`
	NetTxBps       float64 `json:"net_tx_bps"`
	NetRxPps       float64 `json:"net_rx_pps"`
	NetTxPps       float64 `json:"net_tx_pps"`
}

// VMStatPoint is a point of one VM on one node.
type VMStatPoint struct {
	VMID   string
	NodeID string
	StatPoint
}

var statColumns = []string{"vm_id", "node_id", "t", "vcpus", "cpu_cores", "mem_bytes", "rss_bytes",
	"disk_rd_bps", "disk_wr_bps", "disk_rd_ops", "disk_wr_ops", "net_rx_bps", "net_tx_bps", "net_rx_pps", "net_tx_pps"}

// statInsertRows is how many rows one INSERT carries (see logInsertRows).
const statInsertRows = 25

type statsRepo struct{ s *sqlStore }

func (s *sqlStore) Stats() StatsRepo { return statsRepo{s} }

func (r statsRepo) Insert(ctx context.Context, points []VMStatPoint) error {
	if len(points) == 0 {
		return nil
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(statColumns)), ", ") + ")"
	var set []string
	for _, c := range statColumns[3:] {
		set = append(set, c+" = excluded."+c)
	}
	suffix := " ON CONFLICT (vm_id, t) DO UPDATE SET node_id = excluded.node_id, " + strings.Join(set, ", ")
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		for start := 0; start < len(points); start += statInsertRows {
			chunk := points[start:min(start+statInsertRows, len(points))]
			var sb strings.Builder
			sb.WriteString("INSERT INTO vm_stats (" + strings.Join(statColumns, ", ") + ") VALUES ")
			vars := make([]any, 0, len(chunk)*len(statColumns))
			for i := range chunk {
				p := &chunk[i]
				if p.VMID == "" {
					return fmt.Errorf("%w: a stats point without a vm id", ErrInvalid)
				}
				if i > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(row)
				vars = append(vars, p.VMID, p.NodeID, p.T.Unix(), p.VCPUs, p.CPUCores, int64(p.MemoryBytes), int64(p.MemoryRSSBytes),
					p.DiskReadBps, p.DiskWriteBps, p.DiskReadOps, p.DiskWriteOps, p.NetRxBps, p.NetTxBps, p.NetRxPps, p.NetTxPps)
			}
			sb.WriteString(suffix)
			if err := tx.Exec(sb.String(), vars...).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storing %d stats points: %w", len(points), dbError(err))
	}
	return nil
}

type statRow struct {
	T         int64   `gorm:"column:t"`
	VCPUs     int64   `gorm:"column:vcpus"`
	CPUCores  float64 `gorm:"column:cpu_cores"`
	MemBytes  int64   `gorm:"column:mem_bytes"`
	RSSBytes  int64   `gorm:"column:rss_bytes"`
	DiskRdBps float64 `gorm:"column:disk_rd_bps"`
	DiskWrBps float64 `gorm:"column:disk_wr_bps"`
	DiskRdOps float64 `gorm:"column:disk_rd_ops"`
	DiskWrOps float64 `gorm:"column:disk_wr_ops"`
	NetRxBps  float64 `gorm:"column:net_rx_bps"`
	NetTxBps  float64 `gorm:"column:net_tx_bps"`
	NetRxPps  float64 `gorm:"column:net_rx_pps"`
	NetTxPps  float64 `gorm:"column:net_tx_pps"`
}

func (r statRow) point() StatPoint {
	return StatPoint{
		T: time.Unix(r.T, 0).UTC(), VCPUs: int(r.VCPUs), CPUCores: r.CPUCores,
		MemoryBytes: uint64(max(r.MemBytes, 0)), MemoryRSSBytes: uint64(max(r.RSSBytes, 0)),
		DiskReadBps: r.DiskRdBps, DiskWriteBps: r.DiskWrBps, DiskReadOps: r.DiskRdOps, DiskWriteOps: r.DiskWrOps,
		NetRxBps: r.NetRxBps, NetTxBps: r.NetTxBps, NetRxPps: r.NetRxPps, NetTxPps: r.NetTxPps,
	}
}

func (r statsRepo) query(ctx context.Context, sql string, args ...any) ([]StatPoint, error) {
	var rows []statRow
	if err := r.s.read(ctx).Raw(sql, args...).Scan(&rows).Error; err != nil {
		return nil, dbError(err)
	}
	out := make([]StatPoint, len(rows))
	for i, row := range rows {
		out[i] = row.point()
	}
	return out, nil
}

func (r statsRepo) VM(ctx context.Context, vmID string, since, until time.Time) ([]StatPoint, error) {
	pts, err := r.query(ctx, `SELECT t, vcpus, cpu_cores, mem_bytes, rss_bytes, disk_rd_bps, disk_wr_bps, disk_rd_ops, disk_wr_ops,
		net_rx_bps, net_tx_bps, net_rx_pps, net_tx_pps FROM vm_stats WHERE vm_id = ? AND t >= ? AND t < ? ORDER BY t`,
		vmID, since.Unix(), until.Unix())
	if err != nil {
		return nil, fmt.Errorf("reading the stats of vm %s: %w", vmID, err)
	}
	return pts, nil
}

func (r statsRepo) Node(ctx context.Context, nodeID string, since, until time.Time) ([]StatPoint, error) {
	pts, err := r.query(ctx, `SELECT t, SUM(vcpus) AS vcpus, SUM(cpu_cores) AS cpu_cores, SUM(mem_bytes) AS mem_bytes, SUM(rss_bytes) AS rss_bytes,
		SUM(disk_rd_bps) AS disk_rd_bps, SUM(disk_wr_bps) AS disk_wr_bps, SUM(disk_rd_ops) AS disk_rd_ops, SUM(disk_wr_ops) AS disk_wr_ops,
		SUM(net_rx_bps) AS net_rx_bps, SUM(net_tx_bps) AS net_tx_bps, SUM(net_rx_pps) AS net_rx_pps, SUM(net_tx_pps) AS net_tx_pps
		FROM vm_stats WHERE node_id = ? AND t >= ? AND t < ? GROUP BY t ORDER BY t`,
		nodeID, since.Unix(), until.Unix())
	if err != nil {
		return nil, fmt.Errorf("reading the stats of node %s: %w", nodeID, err)
	}
	return pts, nil
}

func (r statsRepo) Prune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		res := tx.Exec(`DELETE FROM vm_stats WHERE t < ?`, before.Unix())
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("pruning stats older than %s: %w", before.UTC().Format(time.RFC3339), dbError(err))
	}
	return n, nil
}

func (r statsRepo) Top(ctx context.Context, since time.Time, limit int) ([]VMStatPoint, error) {
	var rows []struct {
		VMID   string `gorm:"column:vm_id"`
		NodeID string `gorm:"column:node_id"`
		statRow
	}
	err := r.s.read(ctx).Raw(`SELECT vm_id, node_id, t, vcpus, cpu_cores, mem_bytes, rss_bytes, disk_rd_bps, disk_wr_bps, disk_rd_ops, disk_wr_ops,
		net_rx_bps, net_tx_bps, net_rx_pps, net_tx_pps FROM vm_stats s
		WHERE t >= ? AND t = (SELECT MAX(t) FROM vm_stats l WHERE l.vm_id = s.vm_id)
		ORDER BY cpu_cores DESC, vm_id LIMIT ?`, since.Unix(), limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("reading the busiest vms: %w", dbError(err))
	}
	out := make([]VMStatPoint, len(rows))
	for i, row := range rows {
		out[i] = VMStatPoint{VMID: row.VMID, NodeID: row.NodeID, StatPoint: row.point()}
	}
	return out, nil
}
