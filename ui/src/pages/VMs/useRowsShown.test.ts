import { renderHook, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { rowsFillingWindow, useRowsShown } from './useRowsShown';

describe('useRowsShown', () => {
  it('renders the rows that fill the window first, then all of them', async () => {
    const first = rowsFillingWindow();
    const { result } = renderHook(() => useRowsShown(first + 50));
    expect(result.current).toBe(first);
    await waitFor(() => expect(result.current).toBe(first + 50));
  });

  it('renders a short list whole at once', () => {
    const { result } = renderHook(() => useRowsShown(3));
    expect(result.current).toBe(3);
  });

  it('renders later lists whole once it has shown all', async () => {
    const first = rowsFillingWindow();
    const { result, rerender } = renderHook(({ n }) => useRowsShown(n), { initialProps: { n: first + 1 } });
    await waitFor(() => expect(result.current).toBe(first + 1));
    rerender({ n: first + 80 });
    expect(result.current).toBe(first + 80);
  });
});
