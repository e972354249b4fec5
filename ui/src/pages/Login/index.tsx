import { useState, type FormEvent } from 'react';
import { Navigate, useNavigate, useSearchParams } from 'react-router';
import { LoginForm, LoginPage } from '@patternfly/react-core';
import ExclamationCircleIcon from '@patternfly/react-icons/dist/esm/icons/exclamation-circle-icon';
import { isApiError } from '../../api/client';
import { useAuth } from '../../app/auth';

/** Where to go after logging in: the `next` parameter when it is a path of this console. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\') || next.startsWith('/login')) {
    return '/';
  }
  return next;
}

export default function Login() {
  const { me, login } = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (me && !busy) return <Navigate to={next} replace />;

  const submit = async (e: FormEvent | React.MouseEvent) => {
    e.preventDefault();
    if (!username || !password) {
      setError('Enter a user name and a password.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await login(username, password);
      navigate(next, { replace: true });
    } catch (err) {
      setError(isApiError(err) ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <LoginPage
      loginTitle="Log in to Quantix"
      loginSubtitle="The hypervisor manager's web console"
      textContent="Quantix manages virtual machines across your nodes."
    >
      <LoginForm
        showHelperText={error !== null}
        helperText={error ?? undefined}
        helperTextIcon={<ExclamationCircleIcon />}
        usernameLabel="User name"
        usernameValue={username}
        onChangeUsername={(_e, v) => setUsername(v)}
        isValidUsername={error === null}
        passwordLabel="Password"
        passwordValue={password}
        onChangePassword={(_e, v) => setPassword(v)}
        isValidPassword={error === null}
        isShowPasswordEnabled
        loginButtonLabel="Log in"
        isLoginButtonDisabled={busy}
        onLoginButtonClick={(e) => void submit(e)}
        onSubmit={(e) => void submit(e)}
      />
    </LoginPage>
  );
}
