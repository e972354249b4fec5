package libvirt

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// DefaultPoolName is the name of the storage pool the plugin defines for
// image_dir; when another directory already uses it, a hash of the
// directory is appended.
const DefaultPoolName = "quantix-images"

const gib = 1 << 30

// ensurePool returns the name of the active dir pool whose target is dir,
// defining, building, starting and autostarting one when there is none.
func ensurePool(conn *libvirt.Connect, dir string) (string, error) {
	name, pool, err := findPool(conn, dir)
	if err != nil {
		return "", err
	}
	if pool == nil {
		if pool, name, err = definePool(conn, dir); err != nil {
			return "", err
		}
	}
	defer pool.Free()
	if err := activatePool(pool); err != nil {
		return "", fmt.Errorf("starting storage pool %s: %w", name, err)
	}
	return name, nil
}

// findPool looks for a pool whose target path is dir.
func findPool(conn *libvirt.Connect, dir string) (string, *libvirt.StoragePool, error) {
	pools, err := conn.ListAllStoragePools(0)
	if err != nil {
		return "", nil, fmt.Errorf("listing storage pools: %w", err)
	}
	var found *libvirt.StoragePool
	var name string
	for i := range pools {
		p := &pools[i]
		if found == nil {
			if n, ok := poolAt(p, dir); ok {
				found, name = p, n
				continue
			}
		}
		_ = p.Free()
	}
	return name, found, nil
}

func poolAt(p *libvirt.StoragePool, dir string) (string, bool) {
	doc, err := p.GetXMLDesc(0)
	if err != nil {
		return "", false
	}
	var def libvirtxml.StoragePool
	if err := def.Unmarshal(doc); err != nil || def.Target == nil {
		return "", false
	}
	return def.Name, filepath.Clean(def.Target.Path) == dir
}

// poolName picks the name of a new pool for dir: DefaultPoolName for the
// default image_dir, else (or when that name is taken) the name with a hash
// of dir appended.
func poolName(conn *libvirt.Connect, dir string) string {
	sum := sha256.Sum256([]byte(dir))
	hashed := DefaultPoolName + "-" + hex.EncodeToString(sum[:4])
	if dir != DefaultImageDir {
		return hashed
	}
	if p, err := conn.LookupStoragePoolByName(DefaultPoolName); err == nil {
		_ = p.Free()
		return hashed
	}
	return DefaultPoolName
}

func definePool(conn *libvirt.Connect, dir string) (*libvirt.StoragePool, string, error) {
	name := poolName(conn, dir)
	def := libvirtxml.StoragePool{
		Type: "dir",
		Name: name,
		Target: &libvirtxml.StoragePoolTarget{
			Path:        dir,
			Permissions: &libvirtxml.StoragePoolTargetPermissions{Mode: "0755"},
		},
	}
	doc, err := def.Marshal()
	if err != nil {
		return nil, "", fmt.Errorf("encoding storage pool %s: %w", name, err)
	}
	pool, err := conn.StoragePoolDefineXML(doc, 0)
	if err != nil {
		return nil, "", fmt.Errorf("defining storage pool %s at %s: %w", name, dir, err)
	}
	if err := pool.Build(0); err != nil && !hasCode(err, libvirt.ERR_NO_SUPPORT) {
		_ = pool.Undefine()
		_ = pool.Free()
		return nil, "", fmt.Errorf("building storage pool %s at %s: %w", name, dir, err)
	}
	return pool, name, nil
}

func activatePool(pool *libvirt.StoragePool) error {
	active, err := pool.IsActive()
	if err != nil {
		return err
	}
	if !active {
		if err := pool.Create(0); err != nil {
			return err
		}
	} else if err := pool.Refresh(0); err != nil {
		return err
	}
	if auto, err := pool.GetAutostart(); err == nil && !auto {
		if err := pool.SetAutostart(true); err != nil && !hasCode(err, libvirt.ERR_NO_SUPPORT) {
			return err
		}
	}
	return nil
}

// diskPlan is a disk of a VM being created: its volume and how it attaches.
type diskPlan struct {
	Name       string
	Bus        string
	Pool       string
	VolName    string
	Path       string
	Format     string
	Capacity   uint64
	Base       string
	BaseFormat string
}

// createVolume creates the volume of d in its pool and fills in its path.
func createVolume(conn *libvirt.Connect, d *diskPlan) error {
	pool, err := conn.LookupStoragePoolByName(d.Pool)
	if err != nil {
		return fmt.Errorf("looking up storage pool %s: %w", d.Pool, err)
	}
	defer pool.Free()
	doc, err := volumeDef(d).Marshal()
	if err != nil {
		return fmt.Errorf("encoding volume %s: %w", d.VolName, err)
	}
	vol, err := pool.StorageVolCreateXML(doc, 0)
	if err != nil {
		return fmt.Errorf("creating volume %s in pool %s: %w", d.VolName, d.Pool, err)
	}
	defer vol.Free()
	path, err := vol.GetPath()
	if err != nil {
		_ = vol.Delete(0)
		return fmt.Errorf("reading the path of volume %s: %w", d.VolName, err)
	}
	d.Path = path
	return nil
}

func volumeDef(d *diskPlan) *libvirtxml.StorageVolume {
	v := &libvirtxml.StorageVolume{
		Name:     d.VolName,
		Capacity: &libvirtxml.StorageVolumeSize{Unit: "bytes", Value: d.Capacity},
		Target:   &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: d.Format}},
	}
	if d.Base != "" {
		v.BackingStore = &libvirtxml.StorageVolumeBackingStore{
			Path:   d.Base,
			Format: &libvirtxml.StorageVolumeTargetFormat{Type: d.BaseFormat},
		}
	}
	return v
}

// deleteVolume deletes the volume at path; a volume already gone is fine.
func deleteVolume(conn *libvirt.Connect, v ownedVolume) error {
	vol, err := lookupVolume(conn, v)
	if err != nil {
		if hasCode(err, libvirt.ERR_NO_STORAGE_VOL, libvirt.ERR_NO_STORAGE_POOL) {
			return nil
		}
		return fmt.Errorf("looking up volume %s: %w", v.Path, err)
	}
	defer vol.Free()
	if err := vol.Delete(0); err != nil {
		if hasCode(err, libvirt.ERR_NO_STORAGE_VOL) {
			return nil
		}
		return fmt.Errorf("deleting volume %s: %w", v.Path, err)
	}
	return nil
}

func lookupVolume(conn *libvirt.Connect, v ownedVolume) (*libvirt.StorageVol, error) {
	vol, err := conn.LookupStorageVolByPath(v.Path)
	if err == nil || v.Pool == "" || v.Name == "" {
		return vol, err
	}
	pool, perr := conn.LookupStoragePoolByName(v.Pool)
	if perr != nil {
		return nil, err
	}
	defer pool.Free()
	return pool.LookupStorageVolByName(v.Name)
}

// volumeCapacity returns the virtual size of the disk at path as libvirt's
// volume info has it, or from the file itself when no pool knows it.
func volumeCapacity(conn *libvirt.Connect, path string) (uint64, bool) {
	if vol, err := conn.LookupStorageVolByPath(path); err == nil {
		defer vol.Free()
		if info, err := vol.GetInfo(); err == nil {
			return info.Capacity, true
		}
	}
	if info, err := probeImage(path); err == nil {
		return info.VirtualSize, true
	}
	return 0, false
}
