import { useState, type FormEvent } from 'react';
import {
  Alert,
  Button,
  ClipboardCopy,
  EmptyState,
  EmptyStateBody,
  Flex,
  Form,
  FormGroup,
  FormHelperText,
  FormSelect,
  FormSelectOption,
  HelperText,
  HelperTextItem,
  Label,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  PageSection,
  Skeleton,
  Tab,
  TabTitleText,
  Tabs,
  TextInput,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import { isApiError } from '../../api/client';
import type { Role, Token, User } from '../../api/types';
import { useAuth } from '../../app/auth';
import { Time, ago } from '../../components/EventRow';
import { LoggedButton, useActionLogger } from '../../logging';
import { useAdminMutations, useTokens, useUsers } from './queries';
import { ROLES, passwordError, tokenNameError, tokenState, ttlError, userNameError } from './validate';

type Dialog =
  | { kind: 'create-user' }
  | { kind: 'user-role'; user: User }
  | { kind: 'password'; user: User }
  | { kind: 'delete-user'; user: User }
  | { kind: 'create-token' }
  | { kind: 'token-role'; token: Token }
  | { kind: 'revoke'; token: Token };

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** What submit needs of a TanStack mutation. */
interface Mutation<V> {
  mutate: (vars: V, opts: { onSuccess: () => void; onError: (e: Error) => void }) => void;
}

/**
 * useLoggedSubmit gives submit, which runs a form's mutation logged: the
 * submit, then its success (and then) or its error, under the submit's
 * correlation id, so the audit entries of the call join them.
 */
function useLoggedSubmit() {
  const log = useActionLogger('auth');
  return <V,>(m: Mutation<V>, form: string, vars: V, o: { details: Record<string, unknown>; success: string; then?: () => void }) => {
    const cid = log.logSubmit(form, { details: o.details });
    m.mutate(vars, {
      onSuccess: () => {
        log.logSuccess(o.success, { correlationId: cid });
        o.then?.();
      },
      onError: (e) => log.logError(form, e, { correlationId: cid }),
    });
  };
}

function FieldError({ text }: { text?: string }) {
  if (!text) return null;
  return (
    <FormHelperText>
      <HelperText>
        <HelperTextItem variant="error">{text}</HelperTextItem>
      </HelperText>
    </FormHelperText>
  );
}

function RoleSelect({ id, value, onChange, max }: { id: string; value: Role; onChange: (r: Role) => void; max?: Role }) {
  const limit = max ? ROLES.indexOf(max) : ROLES.length - 1;
  return (
    <FormSelect id={id} value={value} onChange={(_e, v) => onChange(v as Role)}>
      {ROLES.map((r, i) => (
        <FormSelectOption key={r} value={r} label={r} isDisabled={i > limit} />
      ))}
    </FormSelect>
  );
}

/** A modal form: its title, fields, the server's refusal, a submit and Cancel. */
function FormModal(props: {
  title: string;
  submit: string;
  danger?: boolean;
  busy: boolean;
  error?: unknown;
  onSubmit: () => void;
  onClose: () => void;
  children: React.ReactNode;
}) {
  const formId = `form-${props.title.replace(/\W+/g, '-')}`;
  return (
    <Modal variant="small" isOpen onClose={props.onClose} aria-labelledby={`${formId}-title`}>
      <ModalHeader title={props.title} labelId={`${formId}-title`} titleIconVariant={props.danger ? 'warning' : undefined} />
      <ModalBody>
        <Form
          id={formId}
          aria-label={props.title}
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            props.onSubmit();
          }}
        >
          {props.children}
          {props.error !== undefined && props.error !== null && (
            <Alert variant="danger" isInline title={errText(props.error)} />
          )}
        </Form>
      </ModalBody>
      <ModalFooter>
        <Button type="submit" form={formId} variant={props.danger ? 'danger' : 'primary'} isLoading={props.busy} isDisabled={props.busy}>
          {props.submit}
        </Button>
        <Button variant="link" onClick={props.onClose}>
          Cancel
        </Button>
      </ModalFooter>
    </Modal>
  );
}

function CreateUser({ onClose }: { onClose: () => void }) {
  const m = useAdminMutations().createUser;
  const submit = useLoggedSubmit();
  const [name, setName] = useState('');
  const [pw, setPw] = useState('');
  const [pw2, setPw2] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [tried, setTried] = useState(false);
  const nameErr = userNameError(name);
  const pwErr = passwordError(pw, pw2);
  const serverField = isApiError(m.error) ? m.error.field : undefined;
  return (
    <FormModal
      title="Create user"
      submit="Create"
      busy={m.isPending}
      error={serverField ? undefined : m.error}
      onClose={onClose}
      onSubmit={() => {
        setTried(true);
        if (nameErr || pwErr) return;
        submit(m, 'create user', { name, password: pw, role }, { details: { name, role }, success: `user ${name} created`, then: onClose });
      }}
    >
      <FormGroup label="Name" isRequired fieldId="new-user-name">
        <TextInput id="new-user-name" value={name} onChange={(_e, v) => setName(v)} validated={tried && nameErr ? 'error' : 'default'} autoComplete="off" />
        <FieldError text={(tried && nameErr) || (serverField === 'name' ? errText(m.error) : undefined)} />
      </FormGroup>
      <FormGroup label="Password" isRequired fieldId="new-user-password">
        <TextInput id="new-user-password" type="password" value={pw} onChange={(_e, v) => setPw(v)} autoComplete="new-password" />
        <FieldError text={serverField === 'password' ? errText(m.error) : undefined} />
      </FormGroup>
      <FormGroup label="Repeat the password" isRequired fieldId="new-user-password2">
        <TextInput id="new-user-password2" type="password" value={pw2} onChange={(_e, v) => setPw2(v)} autoComplete="new-password" />
        <FieldError text={tried ? pwErr : undefined} />
      </FormGroup>
      <FormGroup label="Role" fieldId="new-user-role">
        <RoleSelect id="new-user-role" value={role} onChange={setRole} />
        <FieldError text={serverField === 'role' ? errText(m.error) : undefined} />
      </FormGroup>
    </FormModal>
  );
}

function UserRole({ user, onClose }: { user: User; onClose: () => void }) {
  const m = useAdminMutations().changeUserRole;
  const submit = useLoggedSubmit();
  const [role, setRole] = useState<Role>(user.role);
  return (
    <FormModal
      title={`Change the role of ${user.name}`}
      submit="Change role"
      busy={m.isPending}
      error={m.error}
      onClose={onClose}
      onSubmit={() => {
        submit(m, 'change user role', { name: user.name, role }, { details: { user: user.name, role }, success: `role of ${user.name} set to ${role}`, then: onClose });
      }}
    >
      <p>The new role applies at once, to every session and token of {user.name}.</p>
      <FormGroup label="Role" fieldId="user-role">
        <RoleSelect id="user-role" value={role} onChange={setRole} />
      </FormGroup>
    </FormModal>
  );
}

function ResetPassword({ user, onClose }: { user: User; onClose: () => void }) {
  const m = useAdminMutations().resetPassword;
  const submit = useLoggedSubmit();
  const [pw, setPw] = useState('');
  const [pw2, setPw2] = useState('');
  const [tried, setTried] = useState(false);
  const pwErr = passwordError(pw, pw2);
  return (
    <FormModal
      title={`Reset the password of ${user.name}`}
      submit="Reset password"
      busy={m.isPending}
      error={m.error}
      onClose={onClose}
      onSubmit={() => {
        setTried(true);
        if (pwErr) return;
        submit(m, 'reset password', { name: user.name, password: pw }, { details: { user: user.name }, success: `password of ${user.name} reset`, then: onClose });
      }}
    >
      <p>This ends every session of {user.name}: they log in again with the new password.</p>
      <FormGroup label="New password" isRequired fieldId="reset-password">
        <TextInput id="reset-password" type="password" value={pw} onChange={(_e, v) => setPw(v)} autoComplete="new-password" />
      </FormGroup>
      <FormGroup label="Repeat the new password" isRequired fieldId="reset-password2">
        <TextInput id="reset-password2" type="password" value={pw2} onChange={(_e, v) => setPw2(v)} autoComplete="new-password" />
        <FieldError text={tried ? pwErr : undefined} />
      </FormGroup>
    </FormModal>
  );
}

function DeleteUser({ user, onClose }: { user: User; onClose: () => void }) {
  const m = useAdminMutations().deleteUser;
  const submit = useLoggedSubmit();
  return (
    <FormModal
      title={`Delete user ${user.name}?`}
      submit="Delete"
      danger
      busy={m.isPending}
      error={m.error}
      onClose={onClose}
      onSubmit={() => {
        submit(m, 'delete user', user.name, { details: { user: user.name }, success: `user ${user.name} deleted`, then: onClose });
      }}
    >
      <p>
        {user.name} can no longer log in: their sessions end and their tokens are revoked at once. The last admin cannot be
        deleted.
      </p>
    </FormModal>
  );
}

function CreateToken({ onClose, maxRole }: { onClose: () => void; maxRole: Role }) {
  const m = useAdminMutations().createToken;
  const submit = useLoggedSubmit();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [ttl, setTtl] = useState('720h');
  const [tried, setTried] = useState(false);
  const nameErr = tokenNameError(name);
  const ttlErr = ttlError(ttl);
  if (m.data) {
    return (
      <Modal variant="medium" isOpen onClose={onClose} aria-labelledby="token-created-title">
        <ModalHeader title={`Token ${m.data.name} created`} labelId="token-created-title" titleIconVariant="success" />
        <ModalBody>
          <Alert variant="warning" isInline title="Copy the token now: it is shown this once and cannot be read again." />
          <ClipboardCopy isReadOnly hoverTip="Copy" clickTip="Copied" textAriaLabel="New token" toggleAriaLabel="Show the token">
            {m.data.token}
          </ClipboardCopy>
          <p>
            Send it as <code>Authorization: Bearer &lt;token&gt;</code>, or give it to the CLI in <code>QUANTIX_TOKEN</code>.
          </p>
        </ModalBody>
        <ModalFooter>
          <Button variant="primary" onClick={onClose}>
            Done
          </Button>
        </ModalFooter>
      </Modal>
    );
  }
  return (
    <FormModal
      title="Create token"
      submit="Create"
      busy={m.isPending}
      error={m.error}
      onClose={onClose}
      onSubmit={() => {
        setTried(true);
        if (nameErr || ttlErr) return;
        submit(m, 'create token', { name: name.trim(), role, ttl: ttl.trim() || undefined }, { details: { name, role, ttl }, success: `token ${name} created` });
      }}
    >
      <p>The token is yours, with your role or a lower one.</p>
      <FormGroup label="Name" isRequired fieldId="new-token-name">
        <TextInput id="new-token-name" value={name} onChange={(_e, v) => setName(v)} placeholder="What it is for: prometheus, backup script" />
        <FieldError text={tried ? nameErr : undefined} />
      </FormGroup>
      <FormGroup label="Role" fieldId="new-token-role">
        <RoleSelect id="new-token-role" value={role} onChange={setRole} max={maxRole} />
      </FormGroup>
      <FormGroup label="Expires after" fieldId="new-token-ttl">
        <TextInput id="new-token-ttl" value={ttl} onChange={(_e, v) => setTtl(v)} placeholder="720h; empty: never" />
        <FieldError text={ttlErr} />
      </FormGroup>
    </FormModal>
  );
}

function TokenRole({ token, onClose }: { token: Token; onClose: () => void }) {
  const m = useAdminMutations().changeTokenRole;
  const submit = useLoggedSubmit();
  const [role, setRole] = useState<Role>(token.role);
  return (
    <FormModal
      title={`Change the role of token ${token.name}`}
      submit="Change role"
      busy={m.isPending}
      error={m.error}
      onClose={onClose}
      onSubmit={() => {
        submit(m, 'change token role', { id: token.id, role }, { details: { token: token.id, role }, success: `role of token ${token.id} set to ${role}`, then: onClose });
      }}
    >
      <p>A token's role is never above its owner's ({token.user}).</p>
      <FormGroup label="Role" fieldId="token-role">
        <RoleSelect id="token-role" value={role} onChange={setRole} />
      </FormGroup>
    </FormModal>
  );
}

function RevokeToken({ token, onClose }: { token: Token; onClose: () => void }) {
  const m = useAdminMutations().revokeToken;
  const submit = useLoggedSubmit();
  return (
    <FormModal
      title={`Revoke token ${token.name}?`}
      submit="Revoke"
      danger
      busy={m.isPending}
      error={m.error}
      onClose={onClose}
      onSubmit={() => {
        submit(m, 'revoke token', token.id, { details: { token: token.id }, success: `token ${token.id} revoked`, then: onClose });
      }}
    >
      <p>
        Whatever uses the token ({token.user}'s, qx_{token.prefix}_…) is refused from now on, and its open streams end.
      </p>
    </FormModal>
  );
}

export default function UsersPage() {
  const { me, can } = useAuth();
  const admin = can('admin');
  const users = useUsers(admin);
  const tokens = useTokens(admin);
  const log = useActionLogger('auth');
  const [tab, setTab] = useState<'users' | 'tokens'>('users');
  const [dialog, setDialog] = useState<Dialog | undefined>(undefined);
  const close = () => setDialog(undefined);

  if (!admin) {
    return (
      <PageSection>
        <Title headingLevel="h1">Users and tokens</Title>
        <EmptyState titleText="Needs the admin role" headingLevel="h2" status="warning">
          <EmptyStateBody>
            {me ? `${me.role} cannot administer users and tokens: needs admin.` : 'Users and tokens are for admins.'}
          </EmptyStateBody>
        </EmptyState>
      </PageSection>
    );
  }

  return (
    <>
      <PageSection>
        <Title headingLevel="h1">Users and tokens</Title>
      </PageSection>
      <PageSection>
        <Tabs
          activeKey={tab}
          onSelect={(_e, k) => {
            const t = k === 'tokens' ? 'tokens' : 'users';
            log.logTabSwitch(t);
            setTab(t);
          }}
          aria-label="Users and tokens"
        >
          <Tab eventKey="users" title={<TabTitleText>Users</TabTitleText>}>
            <Toolbar>
              <ToolbarContent>
                <ToolbarItem>
                  <LoggedButton logComponent="auth" variant="primary" onClick={() => setDialog({ kind: 'create-user' })}>
                    Create user
                  </LoggedButton>
                </ToolbarItem>
              </ToolbarContent>
            </Toolbar>
            {users.isError && <Alert variant="danger" isInline title={`Users cannot be read: ${users.error.message}`} />}
            {users.isPending && <Skeleton screenreaderText="Loading users" />}
            {users.data && (
              <Table aria-label="Users">
                <Thead>
                  <Tr>
                    <Th>Name</Th>
                    <Th>Role</Th>
                    <Th>Created</Th>
                    <Th>Updated</Th>
                    <Th screenReaderText="Actions" />
                  </Tr>
                </Thead>
                <Tbody>
                  {users.data.map((u) => (
                    <Tr key={u.id}>
                      <Td dataLabel="Name">
                        {u.name} {u.name === me?.user && <Label isCompact>you</Label>}
                      </Td>
                      <Td dataLabel="Role">{u.role}</Td>
                      <Td dataLabel="Created">
                        <Time iso={u.created_at} />
                      </Td>
                      <Td dataLabel="Updated">
                        <Time iso={u.updated_at} />
                      </Td>
                      <Td dataLabel="Actions" isActionCell>
                        <Flex spaceItems={{ default: 'spaceItemsSm' }} flexWrap={{ default: 'nowrap' }}>
                          <LoggedButton logComponent="auth" variant="secondary" size="sm" aria-label={`Change role of ${u.name}`} onClick={() => setDialog({ kind: 'user-role', user: u })}>
                            Change role
                          </LoggedButton>
                          <LoggedButton logComponent="auth" variant="secondary" size="sm" aria-label={`Reset password of ${u.name}`} onClick={() => setDialog({ kind: 'password', user: u })}>
                            Reset password
                          </LoggedButton>
                          <LoggedButton logComponent="auth" variant="danger" size="sm" aria-label={`Delete user ${u.name}`} onClick={() => setDialog({ kind: 'delete-user', user: u })}>
                            Delete
                          </LoggedButton>
                        </Flex>
                      </Td>
                    </Tr>
                  ))}
                </Tbody>
              </Table>
            )}
          </Tab>
          <Tab eventKey="tokens" title={<TabTitleText>Tokens</TabTitleText>}>
            <Toolbar>
              <ToolbarContent>
                <ToolbarItem>
                  <LoggedButton logComponent="auth" variant="primary" onClick={() => setDialog({ kind: 'create-token' })}>
                    Create token
                  </LoggedButton>
                </ToolbarItem>
              </ToolbarContent>
            </Toolbar>
            {tokens.isError && <Alert variant="danger" isInline title={`Tokens cannot be read: ${tokens.error.message}`} />}
            {tokens.isPending && <Skeleton screenreaderText="Loading tokens" />}
            {tokens.data && tokens.data.length === 0 && <p>No tokens.</p>}
            {tokens.data && tokens.data.length > 0 && (
              <Table aria-label="Tokens">
                <Thead>
                  <Tr>
                    <Th>Name</Th>
                    <Th>Token</Th>
                    <Th>User</Th>
                    <Th>Role</Th>
                    <Th>State</Th>
                    <Th>Created</Th>
                    <Th>Expires</Th>
                    <Th>Last used</Th>
                    <Th screenReaderText="Actions" />
                  </Tr>
                </Thead>
                <Tbody>
                  {tokens.data.map((t) => {
                    const state = tokenState(t);
                    return (
                      <Tr key={t.id}>
                        <Td dataLabel="Name">{t.name}</Td>
                        <Td dataLabel="Token">
                          <code>qx_{t.prefix}_…</code>
                        </Td>
                        <Td dataLabel="User">{t.user}</Td>
                        <Td dataLabel="Role">{t.role}</Td>
                        <Td dataLabel="State">
                          <Label isCompact status={state === 'active' ? 'success' : undefined} color={state === 'active' ? undefined : 'grey'}>
                            {state}
                          </Label>
                        </Td>
                        <Td dataLabel="Created">
                          <Time iso={t.created_at} />
                        </Td>
                        <Td dataLabel="Expires">{t.expires_at ? <Time iso={t.expires_at} /> : 'never'}</Td>
                        <Td dataLabel="Last used">{t.last_used_at ? ago(t.last_used_at) : 'never'}</Td>
                        <Td dataLabel="Actions" isActionCell>
                          {state !== 'revoked' && (
                            <Flex spaceItems={{ default: 'spaceItemsSm' }} flexWrap={{ default: 'nowrap' }}>
                              <LoggedButton logComponent="auth" variant="secondary" size="sm" aria-label={`Change role of token ${t.name}`} onClick={() => setDialog({ kind: 'token-role', token: t })}>
                                Change role
                              </LoggedButton>
                              <LoggedButton logComponent="auth" variant="danger" size="sm" aria-label={`Revoke token ${t.name}`} onClick={() => setDialog({ kind: 'revoke', token: t })}>
                                Revoke
                              </LoggedButton>
                            </Flex>
                          )}
                        </Td>
                      </Tr>
                    );
                  })}
                </Tbody>
              </Table>
            )}
          </Tab>
        </Tabs>
      </PageSection>
      {dialog?.kind === 'create-user' && <CreateUser onClose={close} />}
      {dialog?.kind === 'user-role' && <UserRole user={dialog.user} onClose={close} />}
      {dialog?.kind === 'password' && <ResetPassword user={dialog.user} onClose={close} />}
      {dialog?.kind === 'delete-user' && <DeleteUser user={dialog.user} onClose={close} />}
      {dialog?.kind === 'create-token' && <CreateToken onClose={close} maxRole={me?.role ?? 'viewer'} />}
      {dialog?.kind === 'token-role' && <TokenRole token={dialog.token} onClose={close} />}
      {dialog?.kind === 'revoke' && <RevokeToken token={dialog.token} onClose={close} />}
    </>
  );
}
