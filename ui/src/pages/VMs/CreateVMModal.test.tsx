import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CreateVMModal } from './CreateVMModal';

type Reply = { status: number; body: unknown };

// The API as the browser sees it: fetch answers the nodes list and the create.
function serve(create: Reply) {
  const calls: { method: string; url: string; body: unknown }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const method = init.method ?? 'GET';
      calls.push({ method, url, body: init.body ? JSON.parse(String(init.body)) : undefined });
      const reply: Reply =
        method === 'GET' && url.startsWith('/api/nodes')
          ? {
              status: 200,
              body: { nodes: [{ id: 'n1', name: 'node-a', connected: true, state: 'READY' }], next_cursor: '' },
            }
          : create;
      return new Response(JSON.stringify(reply.body), {
        status: reply.status,
        headers: { 'Content-Type': 'application/json' },
      });
    }),
  );
  return calls;
}

function renderModal() {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const onCreated = vi.fn();
  render(
    <QueryClientProvider client={qc}>
      <CreateVMModal isOpen onClose={() => {}} onCreated={onCreated} />
    </QueryClientProvider>,
  );
  return { onCreated };
}

afterEach(() => vi.unstubAllGlobals());

describe('CreateVMModal', { timeout: 30_000 }, () => {
  it('shows a 422 naming vcpus at the vCPUs field', async () => {
    const calls = serve({ status: 422, body: { code: 'invalid_argument', message: 'vcpus: must be at least 1' } });
    const { onCreated } = renderModal();
    const user = userEvent.setup();
    await user.type(screen.getByRole('textbox', { name: /^Name/ }), 'web-1');
    const vcpus = screen.getByRole('spinbutton', { name: /^vCPUs/ });
    await user.clear(vcpus);
    await user.type(vcpus, '0');
    await user.click(screen.getByRole('button', { name: 'Create' }));

    await waitFor(() => expect(vcpus).toHaveAttribute('aria-invalid', 'true'));
    expect(vcpus).toHaveAccessibleDescription(/^vcpus: must be at least 1/);
    // Only that field: the memory field and the form stay as they were.
    expect(screen.getByRole('spinbutton', { name: /^Memory/ })).not.toHaveAttribute('aria-invalid', 'true');
    expect(screen.queryByText('The VM was not created')).not.toBeInTheDocument();
    expect(onCreated).not.toHaveBeenCalled();

    const post = calls.find((c) => c.method === 'POST' && c.url === '/api/vms');
    expect(post?.url).toBe('/api/vms');
    expect(post?.body).toMatchObject({ name: 'web-1', vcpus: 0, memory_mib: 1024, boot: ['hd'] });
  });

  it('shows a 422 naming a disk\'s bus at that disk\'s bus field', async () => {
    serve({ status: 422, body: { code: 'invalid_argument', message: 'disks[0].bus: "usb" is not one of virtio, sata, scsi, ide' } });
    renderModal();
    const user = userEvent.setup();
    await user.type(screen.getByRole('textbox', { name: /^Name/ }), 'web-1');
    await user.click(screen.getByRole('button', { name: 'Create' }));
    const bus = screen.getByRole('combobox', { name: 'Disk 1 bus' });
    await waitFor(() => expect(bus).toHaveAttribute('aria-invalid', 'true'));
    expect(bus).toHaveAccessibleDescription(/disks\[0\]\.bus: "usb" is not one of/);
  });

  it('shows a 422 naming the node at the Node field, and clears it on the next try', async () => {
    serve({ status: 422, body: { code: 'invalid_argument', message: 'node_id: required: 2 nodes are connected (a, b)' } });
    renderModal();
    const user = userEvent.setup();
    await user.type(screen.getByRole('textbox', { name: /^Name/ }), 'web-1');
    await user.click(screen.getByRole('button', { name: 'Create' }));
    const node = screen.getByRole('combobox', { name: 'Node' });
    await waitFor(() => expect(node).toHaveAccessibleDescription(/^node_id: required/));

    serve({ status: 201, body: { id: 'u-1', name: 'web-1', state: 'STOPPED' } });
    await user.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(node).not.toHaveAttribute('aria-invalid', 'true'));
  });

  it('shows an error naming no field of the form above the form', async () => {
    serve({ status: 409, body: { code: 'conflict', message: 'vm name "web-1" is taken' } });
    renderModal();
    const user = userEvent.setup();
    await user.type(screen.getByRole('textbox', { name: /^Name/ }), 'web-1');
    await user.click(screen.getByRole('button', { name: 'Create' }));
    const alert = await screen.findByText('vm name "web-1" is taken');
    expect(within(alert.closest('.pf-v6-c-alert') as HTMLElement).getByText(/not created/)).toBeInTheDocument();
  });

  it('sends what the form holds and reports the VM created', async () => {
    const calls = serve({ status: 201, body: { id: 'u-1', name: 'db-1', state: 'STOPPED' } });
    const { onCreated } = renderModal();
    const user = userEvent.setup();
    await user.type(screen.getByRole('textbox', { name: /^Name/ }), 'db-1');
    await user.type(screen.getByRole('textbox', { name: /^Labels/ }), 'env=prod{enter}team=db');
    await user.selectOptions(screen.getByRole('combobox', { name: 'Restart policy' }), 'on-crash');
    await screen.findByRole('option', { name: 'node-a' });
    await user.selectOptions(screen.getByRole('combobox', { name: 'Node' }), 'n1');
    await user.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(onCreated).toHaveBeenCalled());
    expect(calls.find((c) => c.method === 'POST' && c.url === '/api/vms')?.body).toEqual({
      name: 'db-1',
      labels: { env: 'prod', team: 'db' },
      vcpus: 1,
      memory_mib: 1024,
      disks: [{ name: '', size_gib: 10, base_image: '', bus: 'virtio' }],
      nics: [{ type: 'user', source: '', model: 'virtio', mac: '' }],
      boot: ['hd'],
      restart_policy: 'on-crash',
      node_id: 'n1',
    });
  });

  it('sends a direct kernel boot with its three fields', async () => {
    const calls = serve({ status: 201, body: { id: 'u-2', name: 'guest-1', state: 'STOPPED' } });
    const { onCreated } = renderModal();
    const user = userEvent.setup();
    await user.type(screen.getByRole('textbox', { name: /^Name/ }), 'guest-1');
    expect(screen.queryByRole('textbox', { name: /^Kernel(?! command)/ })).not.toBeInTheDocument();
    await user.click(screen.getByRole('checkbox', { name: /Boot a Linux kernel directly/ }));
    await user.type(screen.getByRole('textbox', { name: /^Kernel(?! command)/ }), '/srv/guest/vmlinuz');
    await user.type(screen.getByRole('textbox', { name: /^Initrd/ }), '/srv/guest/initrd.img');
    const cmdline = screen.getByRole('textbox', { name: /^Kernel command line/ });
    await user.clear(cmdline);
    await user.type(cmdline, 'console=ttyS0 quiet');
    await user.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(onCreated).toHaveBeenCalled());
    expect(calls.find((c) => c.method === 'POST' && c.url === '/api/vms')?.body).toMatchObject({
      name: 'guest-1',
      kernel: '/srv/guest/vmlinuz',
      initrd: '/srv/guest/initrd.img',
      cmdline: 'console=ttyS0 quiet',
    });
  });

  it('refuses a relative kernel path at the Kernel field without asking the API', async () => {
    const calls = serve({ status: 201, body: { id: 'u-3', name: 'guest-2', state: 'STOPPED' } });
    renderModal();
    const user = userEvent.setup();
    await user.type(screen.getByRole('textbox', { name: /^Name/ }), 'guest-2');
    await user.click(screen.getByRole('checkbox', { name: /Boot a Linux kernel directly/ }));
    const kernel = screen.getByRole('textbox', { name: /^Kernel(?! command)/ });
    await user.type(kernel, 'vmlinuz');
    await user.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(kernel).toHaveAttribute('aria-invalid', 'true'));
    expect(kernel).toHaveAccessibleDescription(/^kernel: "vmlinuz" is not an absolute path/);
    expect(calls.find((c) => c.method === 'POST' && c.url === '/api/vms')).toBeUndefined();
  });

  it('shows a 422 naming initrd at the Initrd field', async () => {
    serve({ status: 422, body: { code: 'invalid_argument', message: 'initrd: stat /srv/x: no such file or directory' } });
    renderModal();
    const user = userEvent.setup();
    await user.type(screen.getByRole('textbox', { name: /^Name/ }), 'guest-3');
    await user.click(screen.getByRole('checkbox', { name: /Boot a Linux kernel directly/ }));
    await user.type(screen.getByRole('textbox', { name: /^Kernel(?! command)/ }), '/srv/vmlinuz');
    const initrd = screen.getByRole('textbox', { name: /^Initrd/ });
    await user.type(initrd, '/srv/x');
    await user.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(initrd).toHaveAttribute('aria-invalid', 'true'));
    expect(initrd).toHaveAccessibleDescription(/^initrd: stat \/srv\/x/);
  });
});
