import {
  ActionGroup,
  Alert,
  Button,
  Checkbox,
  Form,
  FormFieldGroup,
  FormFieldGroupHeader,
  FormGroup,
  FormHelperText,
  FormSelect,
  FormSelectOption,
  Grid,
  GridItem,
  HelperText,
  HelperTextItem,
  Modal,
  ModalBody,
  ModalHeader,
  TextArea,
  TextInput,
} from '@patternfly/react-core';
import PlusCircleIcon from '@patternfly/react-icons/dist/esm/icons/plus-circle-icon';
import TrashIcon from '@patternfly/react-icons/dist/esm/icons/trash-icon';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent, type ReactNode } from 'react';
import { ActionButton } from './ActionButton';
import { createVM, vmKeys, type VM } from './api';
import { emptyForm, buildRequest, checkKernelBoot, newDisk, newNIC, type CreateForm, type DiskRow, type NICRow } from './createForm';
import { errorStatus, errorText } from './errors';
import { parseFieldError } from './fieldErrors';
import { useNodes } from './useNodeNames';

const buses = ['virtio', 'sata', 'scsi', 'ide'];
const nicTypes = ['user', 'network', 'bridge'];
const bootDevices = ['hd', 'cdrom', 'network'];
const restartPolicies = [
  { value: 'never', label: 'Never' },
  { value: 'on-crash', label: 'On crash' },
  { value: 'always', label: 'Always' },
];

function ErrorText({ id, error, children }: { id: string; error?: string; children?: ReactNode }) {
  if (!error && !children) return null;
  return (
    <FormHelperText>
      <HelperText id={id}>
        {error ? (
          <HelperTextItem variant="error">{error}</HelperTextItem>
        ) : (
          <HelperTextItem>{children}</HelperTextItem>
        )}
      </HelperText>
    </FormHelperText>
  );
}

export interface CreateVMModalProps {
  isOpen: boolean;
  onClose: () => void;
  onCreated: (vm: VM) => void;
}

/**
 * CreateVMModal is the create dialog. A 422 from the API names the field it
 * refuses; the message is shown under that field, and under the form when it
 * names none the form has.
 */
export function CreateVMModal({ isOpen, onClose, onCreated }: CreateVMModalProps) {
  const qc = useQueryClient();
  const [form, setForm] = useState<CreateForm>(emptyForm);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState('');

  const nodes = useNodes();

  const create = useMutation({
    mutationFn: createVM,
    onSuccess: (vm) => {
      void qc.invalidateQueries({ queryKey: vmKeys.lists() });
      setForm(emptyForm());
      onCreated(vm);
    },
    onError: (err) => {
      const msg = errorText(err);
      const fe = errorStatus(err) === 422 ? parseFieldError(msg) : null;
      if (fe) setFieldErrors({ [fe.field]: fe.message });
      else setFormError(msg);
    },
  });

  const set = <K extends keyof CreateForm>(key: K, value: CreateForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
  };
  const setDisk = (i: number, patch: Partial<DiskRow>) =>
    set('disks', form.disks.map((d, j) => (j === i ? { ...d, ...patch } : d)));
  const setNIC = (i: number, patch: Partial<NICRow>) =>
    set('nics', form.nics.map((n, j) => (j === i ? { ...n, ...patch } : n)));
  const setBoot = (i: number, dev: string) => {
    const boot = [...form.boot];
    boot[i] = dev;
    set('boot', boot);
  };

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    setFieldErrors({});
    setFormError('');
    const kernelErrs = checkKernelBoot(form);
    if (Object.keys(kernelErrs).length > 0) {
      setFieldErrors(kernelErrs);
      return;
    }
    let body;
    try {
      body = buildRequest(form);
    } catch (err) {
      setFieldErrors({ labels: errorText(err) });
      return;
    }
    create.mutate(body);
  };

  const close = () => {
    setFieldErrors({});
    setFormError('');
    create.reset();
    onClose();
  };

  const err = (key: string) => fieldErrors[key];
  // A field the API refused is marked invalid and described by the API's message.
  const hid = (key: string) => `create-vm-${key.replace(/[^a-z0-9]+/gi, '-')}-helper`;
  const v = (key: string) =>
    fieldErrors[key]
      ? { validated: 'error' as const, 'aria-describedby': hid(key) }
      : { validated: 'default' as const };

  return (
    <Modal variant="medium" isOpen={isOpen} onClose={close} aria-labelledby="create-vm-title">
      <ModalHeader title="Create VM" labelId="create-vm-title" />
      <ModalBody>
        <Form id="create-vm-form" onSubmit={submit} aria-label="Create VM">
          {formError && (
            <Alert variant="danger" isInline title="The VM was not created">
              {formError}
            </Alert>
          )}
          <FormGroup label="Name" isRequired fieldId="vm-name">
            <TextInput
              id="vm-name"
              isRequired
              value={form.name}
              {...v('name')}
              onChange={(_e, val) => set('name', val)}
            />
            <ErrorText id={hid('name')} error={err('name')}>Letters, digits, ".", "_" and "-"; at most 64.</ErrorText>
          </FormGroup>
          <FormGroup label="Description" fieldId="vm-description">
            <TextInput
              id="vm-description"
              value={form.description}
              {...v('description')}
              onChange={(_e, val) => set('description', val)}
            />
            <ErrorText id={hid('description')} error={err('description')} />
          </FormGroup>
          <Grid hasGutter md={6}>
            <GridItem>
              <FormGroup label="vCPUs" isRequired fieldId="vm-vcpus">
                <TextInput
                  id="vm-vcpus"
                  type="number"
                  min={1}
                  value={form.vcpus}
                  {...v('vcpus')}
                  onChange={(_e, val) => set('vcpus', val)}
                />
                <ErrorText id={hid('vcpus')} error={err('vcpus')} />
              </FormGroup>
            </GridItem>
            <GridItem>
              <FormGroup label="Memory (MiB)" isRequired fieldId="vm-memory">
                <TextInput
                  id="vm-memory"
                  type="number"
                  min={1}
                  value={form.memory_mib}
                  {...v('memory_mib')}
                  onChange={(_e, val) => set('memory_mib', val)}
                />
                <ErrorText id={hid('memory_mib')} error={err('memory_mib')} />
              </FormGroup>
            </GridItem>
          </Grid>

          <FormFieldGroup
            header={
              <FormFieldGroupHeader
                titleText={{ text: 'Disks', id: 'vm-disks-title' }}
                actions={
                  <Button variant="link" icon={<PlusCircleIcon />} onClick={() => set('disks', [...form.disks, newDisk()])}>
                    Add disk
                  </Button>
                }
              />
            }
          >
            <ErrorText id={hid('disks')} error={err('disks')} />
            {form.disks.map((d, i) => (
              <Grid hasGutter key={i}>
                <GridItem md={3}>
                  <FormGroup label={`Disk ${i + 1} name`} fieldId={`vm-disk-${i}-name`}>
                    <TextInput
                      id={`vm-disk-${i}-name`}
                      value={d.name}
                      placeholder="automatic"
                      {...v(`disks.${i}.name`)}
                      onChange={(_e, val) => setDisk(i, { name: val })}
                    />
                    <ErrorText id={hid(`disks.${i}.name`)} error={err(`disks.${i}.name`)} />
                  </FormGroup>
                </GridItem>
                <GridItem md={2}>
                  <FormGroup label={`Disk ${i + 1} size (GiB)`} fieldId={`vm-disk-${i}-size`}>
                    <TextInput
                      id={`vm-disk-${i}-size`}
                      type="number"
                      min={0}
                      value={d.size_gib}
                      {...v(`disks.${i}.size_gib`)}
                      onChange={(_e, val) => setDisk(i, { size_gib: val })}
                    />
                    <ErrorText id={hid(`disks.${i}.size_gib`)} error={err(`disks.${i}.size_gib`)} />
                  </FormGroup>
                </GridItem>
                <GridItem md={4}>
                  <FormGroup label={`Disk ${i + 1} base image`} fieldId={`vm-disk-${i}-base`}>
                    <TextInput
                      id={`vm-disk-${i}-base`}
                      value={d.base_image}
                      placeholder="none: a blank disk"
                      {...v(`disks.${i}.base_image`)}
                      onChange={(_e, val) => setDisk(i, { base_image: val })}
                    />
                    <ErrorText id={hid(`disks.${i}.base_image`)} error={err(`disks.${i}.base_image`)} />
                  </FormGroup>
                </GridItem>
                <GridItem md={2}>
                  <FormGroup label={`Disk ${i + 1} bus`} fieldId={`vm-disk-${i}-bus`}>
                    <FormSelect
                      id={`vm-disk-${i}-bus`}
                      value={d.bus}
                      {...v(`disks.${i}.bus`)}
                      onChange={(_e, val) => setDisk(i, { bus: val })}
                    >
                      {buses.map((b) => (
                        <FormSelectOption key={b} value={b} label={b} />
                      ))}
                    </FormSelect>
                    <ErrorText id={hid(`disks.${i}.bus`)} error={err(`disks.${i}.bus`)} />
                  </FormGroup>
                </GridItem>
                <GridItem md={1}>
                  <Button
                    variant="plain"
                    aria-label={`Remove disk ${i + 1}`}
                    icon={<TrashIcon />}
                    onClick={() => set('disks', form.disks.filter((_, j) => j !== i))}
                  />
                </GridItem>
              </Grid>
            ))}
          </FormFieldGroup>

          <FormFieldGroup
            header={
              <FormFieldGroupHeader
                titleText={{ text: 'Network interfaces', id: 'vm-nics-title' }}
                actions={
                  <Button variant="link" icon={<PlusCircleIcon />} onClick={() => set('nics', [...form.nics, newNIC()])}>
                    Add NIC
                  </Button>
                }
              />
            }
          >
            <ErrorText id={hid('nics')} error={err('nics')} />
            {form.nics.map((n, i) => (
              <Grid hasGutter key={i}>
                <GridItem md={2}>
                  <FormGroup label={`NIC ${i + 1} type`} fieldId={`vm-nic-${i}-type`}>
                    <FormSelect
                      id={`vm-nic-${i}-type`}
                      value={n.type}
                      {...v(`nics.${i}.type`)}
                      onChange={(_e, val) => setNIC(i, { type: val })}
                    >
                      {nicTypes.map((t) => (
                        <FormSelectOption key={t} value={t} label={t} />
                      ))}
                    </FormSelect>
                    <ErrorText id={hid(`nics.${i}.type`)} error={err(`nics.${i}.type`)} />
                  </FormGroup>
                </GridItem>
                <GridItem md={3}>
                  <FormGroup label={`NIC ${i + 1} source`} fieldId={`vm-nic-${i}-source`}>
                    <TextInput
                      id={`vm-nic-${i}-source`}
                      value={n.source}
                      placeholder={n.type === 'bridge' ? 'br0' : n.type === 'network' ? 'default' : ''}
                      isDisabled={n.type === 'user'}
                      {...v(`nics.${i}.source`)}
                      onChange={(_e, val) => setNIC(i, { source: val })}
                    />
                    <ErrorText id={hid(`nics.${i}.source`)} error={err(`nics.${i}.source`)} />
                  </FormGroup>
                </GridItem>
                <GridItem md={3}>
                  <FormGroup label={`NIC ${i + 1} model`} fieldId={`vm-nic-${i}-model`}>
                    <TextInput
                      id={`vm-nic-${i}-model`}
                      value={n.model}
                      {...v(`nics.${i}.model`)}
                      onChange={(_e, val) => setNIC(i, { model: val })}
                    />
                    <ErrorText id={hid(`nics.${i}.model`)} error={err(`nics.${i}.model`)} />
                  </FormGroup>
                </GridItem>
                <GridItem md={3}>
                  <FormGroup label={`NIC ${i + 1} MAC`} fieldId={`vm-nic-${i}-mac`}>
                    <TextInput
                      id={`vm-nic-${i}-mac`}
                      value={n.mac}
                      placeholder="automatic"
                      {...v(`nics.${i}.mac`)}
                      onChange={(_e, val) => setNIC(i, { mac: val })}
                    />
                    <ErrorText id={hid(`nics.${i}.mac`)} error={err(`nics.${i}.mac`)} />
                  </FormGroup>
                </GridItem>
                <GridItem md={1}>
                  <Button
                    variant="plain"
                    aria-label={`Remove NIC ${i + 1}`}
                    icon={<TrashIcon />}
                    onClick={() => set('nics', form.nics.filter((_, j) => j !== i))}
                  />
                </GridItem>
              </Grid>
            ))}
          </FormFieldGroup>

          <Grid hasGutter md={4}>
            {[0, 1, 2].map((i) => (
              <GridItem key={i}>
                <FormGroup label={`Boot device ${i + 1}`} fieldId={`vm-boot-${i}`}>
                  <FormSelect
                    id={`vm-boot-${i}`}
                    value={form.boot[i] ?? ''}
                    {...v('boot')}
                    onChange={(_e, val) => setBoot(i, val)}
                  >
                    <FormSelectOption value="" label="none" />
                    {bootDevices.map((b) => (
                      <FormSelectOption key={b} value={b} label={b} />
                    ))}
                  </FormSelect>
                  {i === 0 && <ErrorText id={hid('boot')} error={err('boot')} />}
                </FormGroup>
              </GridItem>
            ))}
          </Grid>

          <FormFieldGroup
            header={<FormFieldGroupHeader titleText={{ text: 'Direct kernel boot', id: 'vm-kernel-boot-title' }} />}
          >
            <Checkbox
              id="vm-kernel-boot"
              label="Boot a Linux kernel directly"
              description="QEMU loads the kernel and initrd from files on the VM's node instead of booting through the firmware and the boot devices."
              isChecked={form.kernel_boot}
              onChange={(_e, checked) => set('kernel_boot', checked)}
            />
            {form.kernel_boot && (
              <>
                <FormGroup label="Kernel" isRequired fieldId="vm-kernel">
                  <TextInput
                    id="vm-kernel"
                    isRequired
                    value={form.kernel}
                    placeholder="/var/lib/quantix/guest/vmlinuz"
                    {...v('kernel')}
                    onChange={(_e, val) => set('kernel', val)}
                  />
                  <ErrorText id={hid('kernel')} error={err('kernel')}>
                    Absolute path of the kernel image on the VM's node.
                  </ErrorText>
                </FormGroup>
                <FormGroup label="Initrd" fieldId="vm-initrd">
                  <TextInput
                    id="vm-initrd"
                    value={form.initrd}
                    placeholder="none"
                    {...v('initrd')}
                    onChange={(_e, val) => set('initrd', val)}
                  />
                  <ErrorText id={hid('initrd')} error={err('initrd')}>
                    Absolute path of an initial ramdisk on the node; optional.
                  </ErrorText>
                </FormGroup>
                <FormGroup label="Kernel command line" fieldId="vm-cmdline">
                  <TextInput
                    id="vm-cmdline"
                    value={form.cmdline}
                    {...v('cmdline')}
                    onChange={(_e, val) => set('cmdline', val)}
                  />
                  <ErrorText id={hid('cmdline')} error={err('cmdline')}>
                    console=ttyS0 shows the kernel and the guest's shell on the serial console.
                  </ErrorText>
                </FormGroup>
              </>
            )}
          </FormFieldGroup>

          <Grid hasGutter md={6}>
            <GridItem>
              <FormGroup label="Restart policy" fieldId="vm-restart-policy">
                <FormSelect
                  id="vm-restart-policy"
                  value={form.restart_policy}
                  {...v('restart_policy')}
                  onChange={(_e, val) => set('restart_policy', val)}
                >
                  {restartPolicies.map((p) => (
                    <FormSelectOption key={p.value} value={p.value} label={p.label} />
                  ))}
                </FormSelect>
                <ErrorText id={hid('restart_policy')} error={err('restart_policy')} />
              </FormGroup>
            </GridItem>
            <GridItem>
              <FormGroup label="Node" fieldId="vm-node">
                <FormSelect
                  id="vm-node"
                  value={form.node_id}
                  {...v('node_id')}
                  onChange={(_e, val) => set('node_id', val)}
                >
                  <FormSelectOption value="" label="Automatic (the one connected node)" />
                  {(nodes.data?.nodes ?? []).map((n) => (
                    <FormSelectOption
                      key={n.id}
                      value={n.id}
                      label={`${n.name}${n.connected ? '' : ' (not connected)'}`}
                    />
                  ))}
                </FormSelect>
                <ErrorText id={hid('node_id')} error={err('node_id')} />
              </FormGroup>
            </GridItem>
          </Grid>

          <FormGroup label="Labels" fieldId="vm-labels">
            <TextArea
              id="vm-labels"
              value={form.labels}
              {...v('labels')}
              placeholder={'env=prod\nteam=web'}
              resizeOrientation="vertical"
              onChange={(_e, val) => set('labels', val)}
            />
            <ErrorText id={hid('labels')} error={err('labels')}>One key=value per line.</ErrorText>
          </FormGroup>

          <ActionGroup>
            <ActionButton type="submit" variant="primary" isLoading={create.isPending} isDisabled={create.isPending}>
              Create
            </ActionButton>
            <Button variant="link" onClick={close}>
              Cancel
            </Button>
          </ActionGroup>
        </Form>
      </ModalBody>
    </Modal>
  );
}

export default CreateVMModal;
