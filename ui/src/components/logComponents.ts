// What each log component looks like: the colour of its badge, its icon and
// the words that explain it. The components are the ones the API validates
// (docs/logs.md, GET /api/logs/components); one the server adds later gets
// the fallback look and its own name, so nothing is hidden.

import type { ComponentType, SVGProps } from 'react';
import BellIcon from '@patternfly/react-icons/dist/esm/icons/bell-icon';
import BuildingIcon from '@patternfly/react-icons/dist/esm/icons/building-icon';
import ChartLineIcon from '@patternfly/react-icons/dist/esm/icons/chart-line-icon';
import ClusterIcon from '@patternfly/react-icons/dist/esm/icons/cluster-icon';
import CogIcon from '@patternfly/react-icons/dist/esm/icons/cog-icon';
import CubeIcon from '@patternfly/react-icons/dist/esm/icons/cube-icon';
import DatabaseIcon from '@patternfly/react-icons/dist/esm/icons/database-icon';
import DesktopIcon from '@patternfly/react-icons/dist/esm/icons/desktop-icon';
import FolderIcon from '@patternfly/react-icons/dist/esm/icons/folder-icon';
import ImageIcon from '@patternfly/react-icons/dist/esm/icons/image-icon';
import InfoCircleIcon from '@patternfly/react-icons/dist/esm/icons/info-circle-icon';
import KeyIcon from '@patternfly/react-icons/dist/esm/icons/key-icon';
import ListIcon from '@patternfly/react-icons/dist/esm/icons/list-icon';
import MicrochipIcon from '@patternfly/react-icons/dist/esm/icons/microchip-icon';
import NetworkIcon from '@patternfly/react-icons/dist/esm/icons/network-icon';
import ServerIcon from '@patternfly/react-icons/dist/esm/icons/server-icon';
import SyncAltIcon from '@patternfly/react-icons/dist/esm/icons/sync-alt-icon';
import TachometerAltIcon from '@patternfly/react-icons/dist/esm/icons/tachometer-alt-icon';

/** The colours a PatternFly Label takes. */
export type BadgeColor =
  | 'blue'
  | 'teal'
  | 'green'
  | 'orange'
  | 'purple'
  | 'red'
  | 'orangered'
  | 'grey'
  | 'yellow';

export type IconType = ComponentType<SVGProps<SVGElement> & { title?: string }>;

export interface ComponentLook {
  /** The component's name as the API spells it. */
  name: string;
  /** The legend's words for it. */
  label: string;
  description: string;
  color: BadgeColor;
  icon: IconType;
}

/** In the order of the API's list. */
export const LOG_COMPONENTS: readonly ComponentLook[] = [
  { name: 'vm', label: 'VM', description: 'virtual machines and their actions', color: 'blue', icon: CubeIcon },
  { name: 'storage', label: 'Storage', description: 'disks and storage pools', color: 'purple', icon: DatabaseIcon },
  { name: 'network', label: 'Network', description: 'networks and NICs', color: 'teal', icon: NetworkIcon },
  { name: 'node', label: 'Node', description: 'hosts and their agents', color: 'green', icon: ServerIcon },
  { name: 'cluster', label: 'Cluster', description: 'the cluster as a whole', color: 'orange', icon: ClusterIcon },
  { name: 'auth', label: 'Auth', description: 'logins, users and tokens', color: 'red', icon: KeyIcon },
  { name: 'settings', label: 'Settings', description: 'configuration', color: 'grey', icon: CogIcon },
  { name: 'dashboard', label: 'Dashboard', description: 'the dashboard page', color: 'blue', icon: TachometerAltIcon },
  { name: 'console', label: 'Console', description: 'VM consoles', color: 'purple', icon: DesktopIcon },
  { name: 'logs', label: 'Logs', description: 'the log pipeline and the Logs page', color: 'teal', icon: ListIcon },
  { name: 'alerts', label: 'Alerts', description: 'alerts and notifications', color: 'orangered', icon: BellIcon },
  { name: 'monitoring', label: 'Monitoring', description: 'metrics and monitoring', color: 'green', icon: ChartLineIcon },
  { name: 'updates', label: 'Updates', description: 'software updates', color: 'yellow', icon: SyncAltIcon },
  { name: 'folders', label: 'Folders', description: 'folders that group VMs', color: 'orange', icon: FolderIcon },
  { name: 'images', label: 'Images', description: 'base images', color: 'purple', icon: ImageIcon },
  { name: 'system', label: 'System', description: 'the daemon itself', color: 'grey', icon: BuildingIcon },
  { name: 'qemu', label: 'QEMU', description: "the hypervisor's log of each VM", color: 'orangered', icon: MicrochipIcon },
];

const byName = new Map(LOG_COMPONENTS.map((c) => [c.name, c]));

/**
 * The look of a component: its own, or for one not in the list a grey badge
 * with an info icon and the name as it came. An empty component is "none".
 */
export function componentLook(name: string | undefined | null): ComponentLook {
  const n = (name ?? '').trim();
  const known = byName.get(n);
  if (known) return known;
  if (n === '') {
    return { name: '', label: 'None', description: 'no component', color: 'grey', icon: InfoCircleIcon };
  }
  return { name: n, label: n, description: `component ${n}`, color: 'grey', icon: InfoCircleIcon };
}

/**
 * The legend for the components the server names (GET /api/logs/components),
 * in its order; before it answered, the known list.
 */
export function legendFor(serverComponents: readonly string[] | undefined): ComponentLook[] {
  if (!serverComponents || serverComponents.length === 0) return [...LOG_COMPONENTS];
  const seen = new Set<string>();
  const out: ComponentLook[] = [];
  for (const c of serverComponents) {
    if (seen.has(c)) continue;
    seen.add(c);
    out.push(componentLook(c));
  }
  return out;
}
