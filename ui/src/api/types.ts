// The API's objects as docs/api.md and docs/logs.md define them (JSON in
// snake_case). Times are RFC 3339 strings in UTC.

export type Role = 'viewer' | 'operator' | 'admin';

export type VMState =
  | 'CREATING'
  | 'STOPPED'
  | 'STARTING'
  | 'RUNNING'
  | 'STOPPING'
  | 'PAUSED'
  | 'SUSPENDED'
  | 'REBOOTING'
  | 'MIGRATING'
  | 'CRASHED'
  | 'DELETING'
  | 'TERMINATED'
  | 'ERROR'
  | 'LOST'
  | 'UNKNOWN'
  | (string & {});

export type Origin = 'control-plane' | 'host-discovered' | 'imported';
export type DesiredState = 'running' | 'stopped' | '';
export type RestartPolicy = 'never' | 'on-crash' | 'always';

export interface Disk {
  name: string;
  size_gib: number;
  base_image?: string;
  bus?: string;
  path?: string;
}

export interface NIC {
  type: string;
  source: string;
  mac?: string;
  model?: string;
}

export interface VMSpec {
  vcpus: number;
  memory_mib: number;
  disks: Disk[];
  nics: NIC[];
  boot: string[];
  /** Direct kernel boot: paths on the VM's node and the kernel command line; empty otherwise. */
  kernel?: string;
  initrd?: string;
  cmdline?: string;
}

export interface VM {
  id: string;
  name: string;
  description: string;
  labels: Record<string, string>;
  origin: Origin;
  is_managed: boolean;
  node_id: string;
  state: VMState;
  last_known_state: VMState;
  desired_state: DesiredState;
  restart_policy: RestartPolicy;
  spec: VMSpec;
  last_seen: string | null;
  lost_reason?: string;
  lost_at?: string | null;
  message: string;
  created_at: string;
  updated_at: string;
}

export interface VMList {
  vms: VM[];
  next_cursor: string;
}

/** The body of POST /api/vms. */
export interface CreateVMRequest {
  name: string;
  description?: string;
  labels?: Record<string, string>;
  vcpus: number;
  memory_mib: number;
  disks?: Disk[];
  nics?: NIC[];
  boot?: string[];
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  restart_policy?: RestartPolicy;
  node_id?: string;
}

/** The reply of power actions, reset_state, adopt and DELETE. */
export interface ActionResult {
  success: boolean;
  message: string;
  code?: string;
  vm?: VM;
}

export type NodeState = 'READY' | 'UNREACHABLE' | 'MAINTENANCE' | (string & {});

export interface HostInfo {
  hostname: string;
  cpus: number;
  memory_mib: number;
  arch: string;
  hypervisor: string;
  hypervisor_version: string;
  kvm_usable: boolean;
}

export interface BackendInfo {
  name: string;
  version: string;
  healthy: boolean;
  error: string;
}

export interface Node {
  id: string;
  name: string;
  state: NodeState;
  address: string;
  claimed_address: string;
  connected: boolean;
  last_heartbeat: string | null;
  vm_count: number;
  host: HostInfo;
  backend: BackendInfo;
  created_at: string;
  updated_at: string;
}

export interface NodeList {
  nodes: Node[];
  next_cursor: string;
}

/** A VM's stored history entry (GET /api/vms/{id}/events). */
export interface VMEvent {
  id: number;
  vm_id: string;
  time: string;
  action: string;
  old_state: string;
  new_state: string;
  cause: string;
  message: string;
}

export interface VMEventList {
  vm_id: string;
  events: VMEvent[];
  next_cursor: string;
}

/** `event: vm` of GET /api/events. */
export interface VMStreamEvent {
  kind: 'vm';
  id: string;
  event_id: number;
  vm_id: string;
  time: string;
  action: string;
  old_state: string;
  new_state: string;
  cause: string;
  message: string;
}

/** GET /api/events?latest=N: the newest stored VM events, newest first. */
export interface LatestEvents {
  /** VM events (kind=vm, the default), or stored node events (kind=node, GET /api/nodes/{id}/events). */
  events: (VMStreamEvent | StoredNodeEvent)[];
  /** GET /api/events?since=<it> carries on right after these. */
  resume_since: string;
  /** before=<it> pages back; '' when no older event is left. */
  next_before: string;
}

/** `event: node` of GET /api/events. */
export interface NodeStreamEvent {
  kind: 'node';
  id: string;
  node_id: string;
  node_name: string;
  time: string;
  action: 'register' | 'heartbeat' | 'disconnect' | 'unreachable' | (string & {});
  old_state: string;
  new_state: string;
  backend_healthy: boolean;
  message: string;
}

/** `event: gap` of a stream: events were dropped for this client. */
export interface GapEvent {
  kind: 'gap';
  dropped: number;
  resume_since?: string;
  message: string;
}

export type StreamEvent = VMStreamEvent | NodeStreamEvent | GapEvent;

export type LogSeverity = 'error' | 'warning' | 'info';

export interface VMLogLine {
  n: number;
  text: string;
  severity: LogSeverity;
}

/** GET /api/vms/{id}/logs?lines=N */
export interface VMLogTail {
  vm_id: string;
  vm_name: string;
  log_path: string;
  log_size_bytes: number;
  lines_returned: number;
  truncated: boolean;
  last_modified: string | null;
  qemu_log: string;
  lines: VMLogLine[];
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogSource = 'ui' | 'audit' | 'system' | 'qemu';

/** An entry of the log pipeline (docs/logs.md). */
export interface LogEntry {
  id: string;
  timestamp: string;
  level: LogLevel;
  source: LogSource;
  component?: string;
  message: string;
  fields?: Record<string, unknown>;
  vm_id?: string;
  node_id?: string;
  user_id?: string;
  session_id?: string;
  correlation_id?: string;
  action?: string;
  target?: string;
  user_action?: boolean;
}

export interface LogList {
  logs: LogEntry[];
  next_cursor: string;
  has_more: boolean;
}

/** The filters GET /api/logs, /api/logs/export and /api/logs/stream take. */
export interface LogFilter {
  level?: LogLevel;
  source?: LogSource[];
  component?: string[];
  vm_id?: string;
  node_id?: string;
  correlation_id?: string;
  session_id?: string;
  user_action?: boolean;
  q?: string;
  since?: string;
  until?: string;
}

/** An entry sent to POST /api/logs/ui. */
export interface UILogEntry {
  timestamp?: string;
  level?: LogLevel;
  source?: 'ui';
  component?: string;
  message: string;
  fields?: Record<string, unknown>;
  vm_id?: string;
  node_id?: string;
  session_id?: string;
  correlation_id?: string;
  action?: string;
  target?: string;
  user_action?: boolean;
}

export interface UILogResult {
  accepted: number;
  rejected: number;
  errors?: { index: number; reason: string }[];
}

export interface LoginResult {
  user: string;
  role: Role;
  csrf_token: string;
  expires_at: string;
}

export interface WhoAmI {
  user: string;
  role: Role;
  via: 'session' | 'token';
  session_id?: string;
  token_id?: string;
  expires_at?: string;
}

export interface User {
  id: string;
  name: string;
  role: Role;
  created_at: string;
  updated_at: string;
}

export interface Token {
  id: string;
  prefix: string;
  name: string;
  role: Role;
  user: string;
  created_at: string;
  expires_at?: string;
  last_used_at?: string;
  revoked_at?: string | null;
}

/** POST /api/tokens reply: the token and, this once, its secret. */
export interface NewToken extends Token {
  token: string;
}

export interface Health {
  status: string;
  version: string;
}

/** A stored node event (GET /api/nodes/{id}/events, GET /api/events?latest=N&kind=node). */
export interface StoredNodeEvent extends NodeStreamEvent {
  /** The stored event's id (before= pages back from it). */
  event_id: number;
}
