import { Alert, AlertActionCloseButton, AlertGroup } from '@patternfly/react-core';
import { useCallback, useState } from 'react';

export interface Toast {
  key: number;
  variant: 'success' | 'danger' | 'warning' | 'info';
  title: string;
  body?: string;
}

let nextKey = 1;

/** useToasts keeps the page's action results, shown as toast alerts. */
export function useToasts() {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const add = useCallback((t: Omit<Toast, 'key'>) => {
    setToasts((ts) => [...ts.slice(-4), { ...t, key: nextKey++ }]);
  }, []);
  const remove = useCallback((key: number) => setToasts((ts) => ts.filter((t) => t.key !== key)), []);
  return { toasts, add, remove };
}

export function Toasts({ toasts, remove }: { toasts: Toast[]; remove: (key: number) => void }) {
  return (
    <AlertGroup isToast isLiveRegion>
      {toasts.map((t) => (
        <Alert
          key={t.key}
          variant={t.variant}
          title={t.title}
          timeout={t.variant === 'danger' ? false : 8000}
          onTimeout={() => remove(t.key)}
          actionClose={<AlertActionCloseButton title={t.title} onClose={() => remove(t.key)} />}
        >
          {t.body}
        </Alert>
      ))}
    </AlertGroup>
  );
}
