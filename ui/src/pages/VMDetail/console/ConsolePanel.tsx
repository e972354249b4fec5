// The Console tab's body: the VM's serial console in an xterm.js terminal.
// This module (with xterm.js) is loaded only when the tab is opened.
import { Button, Content, Flex, FlexItem, Tooltip } from '@patternfly/react-core';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useActionLogger } from '../../../logging';
import type { VM } from '../../VMs/api';
import { useOperate } from '../../VMs/role';
import { consoleURL, describeClose, keyBytes, whyNoConsole, type ConsoleEnd } from './session';

type Phase = 'idle' | 'connecting' | 'open' | 'closed';

/**
 * ConsolePanel connects to the VM's console when it opens (if the VM runs
 * and the user may operate it), shows why it ended, and offers Connect,
 * Disconnect and, when another user holds it, Take over.
 */
export function ConsolePanel({ vm }: { vm: Pick<VM, 'id' | 'name' | 'state'> }) {
  const denied = useOperate('open consoles');
  const log = useActionLogger('vm');
  const [phase, setPhase] = useState<Phase>('idle');
  const [end, setEnd] = useState<ConsoleEnd | null>(null);
  const [unsupported, setUnsupported] = useState('');
  const box = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | null>(null);
  const ws = useRef<WebSocket | null>(null);
  const byUser = useRef(false);
  const why = whyNoConsole(vm.state, denied, unsupported);

  // The terminal lives as long as the panel.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const t = new Terminal({
      cursorBlink: true,
      fontSize: 14,
      scrollback: 5000,
      convertEol: false,
      theme: { background: '#000000', foreground: '#e0e0e0', cursor: '#e0e0e0' },
    });
    const fit = new FitAddon();
    t.loadAddon(fit);
    t.open(el);
    const refit = () => {
      try {
        fit.fit();
      } catch {
        // Not laid out yet (hidden tab): the next resize fits it.
      }
    };
    refit();
    const ro = new ResizeObserver(refit);
    ro.observe(el);
    const input = t.onData((data) => {
      const s = ws.current;
      if (s && s.readyState === WebSocket.OPEN) s.send(keyBytes(data));
    });
    term.current = t;
    return () => {
      input.dispose();
      ro.disconnect();
      t.dispose();
      term.current = null;
    };
  }, []);

  const connect = useCallback(
    (force: boolean) => {
      const old = ws.current;
      if (old && (old.readyState === WebSocket.OPEN || old.readyState === WebSocket.CONNECTING)) return;
      byUser.current = false;
      setPhase('connecting');
      setEnd(null);
      const s = new WebSocket(consoleURL(window.location, vm.id, force));
      s.binaryType = 'arraybuffer';
      ws.current = s;
      s.onopen = () => {
        if (ws.current !== s) return;
        setPhase('open');
        term.current?.focus();
      };
      s.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => {
        const t = term.current;
        if (!t) return;
        t.write(typeof ev.data === 'string' ? ev.data : new Uint8Array(ev.data));
      };
      s.onclose = (ev) => {
        if (ws.current !== s) return;
        ws.current = null;
        const e = describeClose(ev.code, ev.reason, byUser.current);
        if (e.unsupported) setUnsupported(e.message);
        setEnd(e);
        setPhase('closed');
      };
    },
    [vm.id],
  );

  const disconnect = () => {
    const s = ws.current;
    if (!s) return;
    byUser.current = true;
    s.close(1000, 'the user disconnected');
  };

  // Connect once when the tab opens, if the console can open; leave when
  // the tab goes away.
  const canOpen = why === '';
  const opened = useRef(false);
  useEffect(() => {
    if (canOpen && !opened.current) {
      opened.current = true;
      connect(false);
    }
  }, [canOpen, connect]);
  useEffect(
    () => () => {
      const s = ws.current;
      ws.current = null;
      if (s) s.close(1000, 'the page left the console');
    },
    [],
  );

  const live = phase === 'open' || phase === 'connecting';
  let status: string;
  if (phase === 'connecting') status = 'Connecting to the console…';
  else if (phase === 'open') status = `Connected to the serial console of ${vm.name}. Everything typed here goes to the VM.`;
  else if (end) status = end.message;
  else if (why) status = why;
  else status = 'Not connected.';

  const connectButton = (
    <Button
      variant="primary"
      isAriaDisabled={!!why}
      onClick={() => {
        log.logClick('Connect console', { vmId: vm.id });
        connect(false);
      }}
    >
      Connect
    </Button>
  );

  return (
    <Flex direction={{ default: 'column' }} spaceItems={{ default: 'spaceItemsSm' }} style={{ paddingTop: 16 }}>
      <Flex alignItems={{ default: 'alignItemsCenter' }}>
        {live ? (
          <FlexItem>
            <Button
              variant="secondary"
              onClick={() => {
                log.logClick('Disconnect console', { vmId: vm.id });
                disconnect();
              }}
            >
              Disconnect
            </Button>
          </FlexItem>
        ) : (
          <FlexItem>{why ? <Tooltip content={why}>{connectButton}</Tooltip> : connectButton}</FlexItem>
        )}
        {!live && !why && end?.canTakeOver && (
          <FlexItem>
            <Button
              variant="warning"
              onClick={() => {
                log.logClick('Take over console', { vmId: vm.id });
                connect(true);
              }}
            >
              Take over
            </Button>
          </FlexItem>
        )}
        <FlexItem>
          <Content
            component="p"
            role="status"
            aria-label="Console status"
            style={{ color: end?.failed && !live ? 'var(--pf-t--global--text--color--status--danger--default)' : undefined }}
          >
            {status}
          </Content>
        </FlexItem>
      </Flex>
      <div
        ref={box}
        role="region"
        aria-label={`Serial console of ${vm.name}`}
        style={{ height: 440, padding: 4, background: '#000', color: '#e0e0e0' }}
      />
    </Flex>
  );
}

export default ConsolePanel;
