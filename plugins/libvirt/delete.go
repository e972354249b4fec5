package libvirt

import (
	"context"
	"fmt"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// undefineFlags are tried in order: drivers that do not know a flag (the
// test driver knows no NVRAM) get the next, smaller set.
var undefineFlags = []libvirt.DomainUndefineFlagsValues{
	libvirt.DOMAIN_UNDEFINE_NVRAM | libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
	libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
	0,
}

// DeleteVM removes a VM. Deleting one that does not exist succeeds; a
// running or paused one is a conflict unless opts.Force, which destroys it
// first. With opts.DeleteDisks the volumes the VM owns are deleted too,
// never a base image or a disk it did not create.
func (b *Backend) DeleteVM(ctx context.Context, id string, opts backend.DeleteOptions) error {
	id, err := checkID(id)
	if err != nil {
		return err
	}
	unlock, err := b.locks.lock(ctx, id)
	if err != nil {
		return fmt.Errorf("deleting vm %s: %w", id, err)
	}
	defer unlock()
	return b.withConn(func(_ *session, c *libvirt.Connect) error {
		dom, err := lookupDomain(c, id)
		if plugin.KindOf(err) == plugin.KindNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		defer dom.Free()
		return b.deleteDomain(c, dom, id, opts)
	})
}

func (b *Backend) deleteDomain(c *libvirt.Connect, dom *libvirt.Domain, id string, opts backend.DeleteOptions) error {
	meta, err := persistentMetadata(dom)
	if err != nil {
		return classify(err, "deleting vm %s", id)
	}
	if err := stopForDelete(dom, id, opts.Force); err != nil {
		return err
	}
	if opts.DeleteDisks {
		for _, v := range meta.Volumes {
			if err := deleteVolume(c, v); err != nil {
				return classify(err, "deleting vm %s", id)
			}
		}
	}
	if err := undefine(dom); err != nil && !hasCode(err, libvirt.ERR_NO_DOMAIN) {
		return classify(err, "deleting vm %s: undefining", id)
	}
	b.parsed.forget(id)
	b.log.Info("vm deleted", "id", id, "disks_deleted", opts.DeleteDisks, "volumes", len(meta.Volumes))
	return nil
}

// stopForDelete refuses to delete an active domain unless forced, and
// destroys it when forced.
func stopForDelete(dom *libvirt.Domain, id string, force bool) error {
	st, reason, err := dom.GetState()
	if err != nil {
		return classify(err, "deleting vm %s: reading its state", id)
	}
	active, err := dom.IsActive()
	if err != nil {
		return classify(err, "deleting vm %s: reading its state", id)
	}
	if !active {
		return nil
	}
	if !force {
		state, _ := mapState(st, reason)
		return stateConflict("deleting", id, state, "; stop it first or force the delete")
	}
	if err := destroy(dom); err != nil {
		return classify(err, "deleting vm %s: destroying it", id)
	}
	return nil
}

// persistentMetadata reads the Quantix metadata of the domain's persistent
// definition (the live one for a transient domain).
func persistentMetadata(dom *libvirt.Domain) (vmMetadata, error) {
	flags := libvirt.DOMAIN_XML_INACTIVE
	if persistent, err := dom.IsPersistent(); err == nil && !persistent {
		flags = 0
	}
	doc, err := dom.GetXMLDesc(flags)
	if err != nil {
		return vmMetadata{}, err
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(doc); err != nil {
		return vmMetadata{}, fmt.Errorf("parsing domain xml: %w", err)
	}
	if def.Metadata == nil {
		return vmMetadata{}, nil
	}
	meta, _, err := parseMetadata(def.Metadata.XML)
	return meta, err
}

// undefine removes a domain's definition with its NVRAM, managed save and
// snapshot metadata, using fewer flags where the driver knows fewer. A
// transient domain is gone once destroyed.
func undefine(dom *libvirt.Domain) error {
	if persistent, err := dom.IsPersistent(); err == nil && !persistent {
		return nil
	}
	var err error
	for _, flags := range undefineFlags {
		if err = dom.UndefineFlags(flags); err == nil {
			return nil
		}
		if !hasCode(err, libvirt.ERR_INVALID_ARG, libvirt.ERR_NO_SUPPORT, libvirt.ERR_CONFIG_UNSUPPORTED) {
			return err
		}
	}
	return err
}
