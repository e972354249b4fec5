import { useQuery, type QueryClient } from '@tanstack/react-query';
import { useMemo } from 'react';
import { api } from '../../api/client';
import type { NodeList } from '../../api/types';

/** The nodes as the VMs page asks for them (the node filter, the node names of the rows, the create dialog's choice). */
const nodeOptions = {
  queryKey: ['nodes', 'options'],
  queryFn: () => api.get<NodeList>('/api/nodes?limit=1000', { noAuthRedirect: true }),
  staleTime: 30_000,
} as const;

/** useNodes lists the nodes (for the node filter and the create dialog's node choice). */
export function useNodes() {
  return useQuery({ ...nodeOptions, queryFn: () => api.get<NodeList>('/api/nodes?limit=1000') });
}

/**
 * prefetchNodes reads the nodes into the cache before the VMs page renders
 * (at start, with its first page of VMs), so that its rows show node names
 * from their first render instead of ids replaced once the nodes arrive (a
 * second render of every row). A 401 is left to the session check.
 */
export function prefetchNodes(qc: QueryClient): Promise<void> {
  return qc.prefetchQuery(nodeOptions);
}

/** useNodeNames maps node ids to names. */
export function useNodeNames(): Map<string, string> {
  const { data } = useNodes();
  return useMemo(() => new Map((data?.nodes ?? []).map((n) => [n.id, n.name])), [data]);
}
