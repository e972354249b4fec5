import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { api } from '../../api/client';
import type { NodeList } from '../../api/types';

/** useNodes lists the nodes (for the node filter and the create dialog's node choice). */
export function useNodes() {
  return useQuery({
    queryKey: ['nodes', 'options'],
    queryFn: () => api.get<NodeList>('/api/nodes?limit=1000'),
    staleTime: 30_000,
  });
}

/** useNodeNames maps node ids to names. */
export function useNodeNames(): Map<string, string> {
  const { data } = useNodes();
  return useMemo(() => new Map((data?.nodes ?? []).map((n) => [n.id, n.name])), [data]);
}
