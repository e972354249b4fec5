package libvirt

import (
	"slices"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/quantixvm/quantix/sdk/backend"
)

func TestMetadataRoundTrip(t *testing.T) {
	in := vmMetadata{
		Description: `web <frontend> & "cache"`,
		CreatedAt:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Volumes: []ownedVolume{
			{Disk: "root", Pool: "quantix-images", Name: "vm-root.qcow2", Path: "/img/vm-root.qcow2", Base: "/base/debian.qcow2"},
			{Disk: "data", Pool: "quantix-images", Name: "vm-data.qcow2", Path: "/img/vm-data.qcow2"},
		},
	}
	doc, err := in.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc, `<quantix:vm xmlns:quantix="`+MetadataNamespace+`"`) {
		t.Errorf("element is not prefixed: %s", doc)
	}
	// Other tools' metadata may sit next to ours.
	inner := `<other:thing xmlns:other="urn:other"><other:x>1</other:x></other:thing>` + doc
	out, managed, err := parseMetadata(inner)
	if err != nil || !managed {
		t.Fatalf("parseMetadata: managed %v, %v", managed, err)
	}
	if out.Description != in.Description || !out.CreatedAt.Equal(in.CreatedAt) || !slices.Equal(out.Volumes, in.Volumes) {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
	if v, ok := out.owns("/img/vm-data.qcow2"); !ok || v.Disk != "data" {
		t.Errorf("owns data disk: %v %+v", ok, v)
	}
	if _, ok := out.owns("/base/debian.qcow2"); ok {
		t.Error("a base image is owned")
	}
	for _, foreign := range []string{"", `<other:thing xmlns:other="urn:other"/>`, `<vm xmlns="urn:not-quantix"/>`} {
		if _, managed, err := parseMetadata(foreign); managed || err != nil {
			t.Errorf("%q: managed %v, err %v", foreign, managed, err)
		}
	}
}

func TestBuildDomainReadsBack(t *testing.T) {
	spec := backend.VMSpec{
		Name: "web-1", VCPUs: 2, MemoryMiB: 512, Description: "front end",
		Boot: []string{"network", "hd"},
		NICs: []backend.NICSpec{
			{Type: backend.NICNetwork, Source: "default", MAC: "52:54:00:aa:bb:cc"},
			{Type: backend.NICBridge, Source: "br0", Model: "e1000"},
			{Type: backend.NICUser},
		},
	}
	disks := []diskPlan{
		{Name: "root", Bus: "virtio", Path: "/img/web-1-root.qcow2", Format: formatQCOW2, Base: "/base/b.qcow2", Pool: "p", VolName: "web-1-root.qcow2"},
		{Name: "data", Bus: "scsi", Path: "/img/web-1-data.qcow2", Format: formatQCOW2, Pool: "p", VolName: "web-1-data.qcow2"},
		{Name: "old", Bus: "ide", Path: "/img/web-1-old.qcow2", Format: formatQCOW2, Pool: "p", VolName: "web-1-old.qcow2"},
	}
	meta := vmMetadata{Description: spec.Description}
	for _, d := range disks {
		meta.Volumes = append(meta.Volumes, ownedVolume{Disk: d.Name, Pool: d.Pool, Name: d.VolName, Path: d.Path, Base: d.Base})
	}
	metaXML, err := meta.marshal()
	if err != nil {
		t.Fatal(err)
	}
	nics := []nicPlan{{spec.NICs[0]}, {spec.NICs[1]}, {spec.NICs[2]}}
	def := buildDomain(domainPlan{Spec: spec, DomainType: "kvm", Disks: disks, NICs: nics, Metadata: metaXML})
	def.UUID = "0f6c9a8e-3f3b-4c53-9a53-62a0b3b1a001"
	doc, err := def.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]uint64{"/img/web-1-root.qcow2": 10 << 30, "/img/web-1-data.qcow2": 1<<30 + 1}
	vm, err := vmFromXML(doc, libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_SHUTDOWN), func(p string) (uint64, bool) {
		s, ok := sizes[p]
		return s, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	if !vm.Managed || vm.State != backend.StateStopped || vm.StateReason != "shutdown" || vm.ID != def.UUID {
		t.Errorf("vm: managed %v state %s %q id %s", vm.Managed, vm.State, vm.StateReason, vm.ID)
	}
	if vm.Spec.VCPUs != 2 || vm.Spec.MemoryMiB != 512 || vm.Spec.Description != "front end" || !slices.Equal(vm.Spec.Boot, spec.Boot) {
		t.Errorf("spec: %+v", vm.Spec)
	}
	wantNICs := []backend.NICSpec{
		{Type: "network", Source: "default", MAC: "52:54:00:aa:bb:cc", Model: "virtio"},
		{Type: "bridge", Source: "br0", Model: "e1000"},
		{Type: "user", Model: "virtio"},
	}
	if !slices.Equal(vm.Spec.NICs, wantNICs) {
		t.Errorf("nics = %+v, want %+v", vm.Spec.NICs, wantNICs)
	}
	wantDisks := []backend.DiskSpec{
		{Name: "root", SizeGiB: 10, BaseImage: "/base/b.qcow2", Bus: "virtio"},
		{Name: "data", SizeGiB: 2, Bus: "scsi"},
		{Name: "old", SizeGiB: 0, Bus: "ide"},
	}
	if !slices.Equal(vm.Spec.Disks, wantDisks) {
		t.Errorf("disk specs = %+v, want %+v", vm.Spec.Disks, wantDisks)
	}
	for i, d := range vm.Disks {
		if !d.Owned || d.Path != disks[i].Path || d.Format != formatQCOW2 {
			t.Errorf("disk %d = %+v", i, d)
		}
	}
	// Device names follow the bus; a scsi disk brings a virtio-scsi controller.
	var parsed libvirtxml.Domain
	if err := parsed.Unmarshal(doc); err != nil {
		t.Fatal(err)
	}
	var devs []string
	for _, d := range parsed.Devices.Disks {
		devs = append(devs, d.Target.Dev)
	}
	if !slices.Equal(devs, []string{"vda", "sda", "hda"}) {
		t.Errorf("device names %v", devs)
	}
	if len(parsed.Devices.Controllers) != 1 || parsed.Devices.Controllers[0].Model != "virtio-scsi" {
		t.Errorf("controllers %+v", parsed.Devices.Controllers)
	}
	// Network boot keeps the NIC option ROMs.
	for _, i := range parsed.Devices.Interfaces {
		if i.ROM != nil {
			t.Errorf("network boot VM has a NIC with rom %+v", i.ROM)
		}
	}
}

func TestForeignDomainReadsBack(t *testing.T) {
	doc := `<domain type='kvm'><name>foreign</name><uuid>0F6C9A8E-3F3B-4C53-9A53-62A0B3B1A002</uuid>
<description>made by hand</description><memory unit='KiB'>1048576</memory><vcpu>4</vcpu>
<os><type>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/var/lib/libvirt/images/f.img'/>
<backingStore type='file'><format type='qcow2'/><source file='/base.qcow2'/></backingStore><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='cdrom'><source file='/iso/x.iso'/><target dev='sda' bus='sata'/></disk>
<interface type='direct'><source dev='eth0' mode='bridge'/></interface>
<console type='pty' tty='/dev/pts/7'><source path='/dev/pts/7'/><target type='serial' port='0'/></console>
</devices></domain>`
	vm, err := vmFromXML(doc, libvirt.DOMAIN_RUNNING, int(libvirt.DOMAIN_RUNNING_BOOTED), func(string) (uint64, bool) { return 0, false })
	if err != nil {
		t.Fatal(err)
	}
	if vm.Managed || vm.ID != "0f6c9a8e-3f3b-4c53-9a53-62a0b3b1a002" || vm.Spec.MemoryMiB != 1024 || vm.Spec.VCPUs != 4 {
		t.Errorf("vm = %+v", vm)
	}
	if vm.Spec.Description != "made by hand" || vm.ConsolePTY != "/dev/pts/7" || vm.State != backend.StateRunning {
		t.Errorf("vm = %+v", vm)
	}
	if len(vm.Disks) != 1 || vm.Disks[0].Owned || vm.Disks[0].Name != "vda" || vm.Disks[0].BaseImage != "/base.qcow2" {
		t.Errorf("disks = %+v", vm.Disks)
	}
	if len(vm.Spec.NICs) != 1 || vm.Spec.NICs[0].Type != "direct" || vm.Spec.NICs[0].Source != "eth0" {
		t.Errorf("nics = %+v", vm.Spec.NICs)
	}
}

func TestToBytes(t *testing.T) {
	tests := []struct {
		v    uint64
		unit string
		want uint64
	}{
		{1, "", 1024}, {1, "KiB", 1024}, {1, "k", 1024}, {1, "MiB", 1 << 20}, {1, "M", 1 << 20},
		{1, "G", 1 << 30}, {2, "GiB", 2 << 30}, {1, "bytes", 1}, {1, "b", 1}, {1, "KB", 1000},
		{1, "MB", 1000000}, {1, "GB", 1000000000}, {1, "TiB", 1 << 40}, {1, "TB", 1000000000000},
	}
	for _, tt := range tests {
		if got := toBytes(tt.v, tt.unit); got != tt.want {
			t.Errorf("toBytes(%d, %q) = %d, want %d", tt.v, tt.unit, got, tt.want)
		}
	}
}

func TestDriveLetters(t *testing.T) {
	for i, want := range map[int]string{0: "a", 1: "b", 25: "z", 26: "aa", 27: "ab", 51: "az", 52: "ba", 701: "zz", 702: "aaa"} {
		if got := driveLetters(i); got != want {
			t.Errorf("driveLetters(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestCheckID(t *testing.T) {
	if id, err := checkID("0F6C9A8E-3F3B-4C53-9A53-62A0B3B1A002"); err != nil || id != "0f6c9a8e-3f3b-4c53-9a53-62a0b3b1a002" {
		t.Errorf("valid uuid: %q, %v", id, err)
	}
	for _, bad := range []string{"", "web-1", "0f6c9a8e3f3b4c539a5362a0b3b1a002", "0f6c9a8e-3f3b-4c53-9a53-62a0b3b1a00", "../../etc"} {
		if _, err := checkID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseCache(t *testing.T) {
	c := newParseCache()
	doc1, err := testDomainXML(1)
	if err != nil {
		t.Fatal(err)
	}
	doc2, _ := testDomainXML(2)
	id1, id2 := "5158ba6e-0000-4000-8000-000000000001", "5158ba6e-0000-4000-8000-000000000002"
	a, err := c.parse(id1, doc1)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.parse(strings.ToUpper(id1), doc1); again != a {
		t.Error("unchanged xml was decoded again")
	}
	changed := strings.Replace(doc1, "<vcpu>1</vcpu>", "<vcpu>3</vcpu>", 1)
	if changed == doc1 {
		t.Fatalf("test xml has no <vcpu>1</vcpu>: %s", doc1)
	}
	p, err := c.parse(id1, changed)
	if err != nil || p == a || p.def.VCPU.Value != 3 {
		t.Fatalf("changed xml: %+v, %v", p, err)
	}
	if _, err := c.parse(id1, "<domain"); err == nil {
		t.Error("broken xml parsed")
	}
	if _, err := c.parse(id2, doc2); err != nil {
		t.Fatal(err)
	}
	c.retain([]*backend.VM{{ID: id2}})
	if c.len() != 1 {
		t.Errorf("%d entries after retain, want 1", c.len())
	}
	c.forget(strings.ToUpper(id2))
	if c.len() != 0 {
		t.Errorf("%d entries after forget, want 0", c.len())
	}
}

// TestVolumeNamesDistinct: the separator of volume names is a character no
// VM or disk name may contain, so that two disks never share a volume name.
func TestVolumeNamesDistinct(t *testing.T) {
	if volumeName("a", "b-c") == volumeName("a-b", "c") || volumeName("a", "b.c") == volumeName("a.b", "c") {
		t.Errorf("two disks share a volume name: %s, %s", volumeName("a", "b-c"), volumeName("a-b", "c"))
	}
	if err := backend.ValidateName("name", "a"+volumeSep+"b"); err == nil {
		t.Errorf("a name with the volume separator %q is valid", volumeSep)
	}
	if got := volumeName("web-1", "root"); got != "web-1+root.qcow2" {
		t.Errorf("volume name %s, want web-1+root.qcow2", got)
	}
}
