import { startTransition, useEffect, useState } from 'react';

/** The least height of a table row, in CSS pixels (a compact row is about 37). */
const minRowHeight = 28;

/** How many rows fill the window: what the first render of a page of rows draws. */
export function rowsFillingWindow(): number {
  return Math.max(20, Math.ceil(window.innerHeight / minRowHeight));
}

/**
 * useRowsShown says how many of a table's n rows to render. The first time
 * rows are shown, it is as many as fill the window, so that what the user
 * sees is drawn without waiting for the rows below it; once that has been
 * painted (the next animation frame, then a task), all n, rendered as a
 * transition that gives way to input. From then on it is n. The cost of a
 * row is its DOM (about 30 elements with PatternFly's cells, labels, check
 * box and actions toggle), created, laid out and painted in one task: a
 * page of 100 took most of the time from the list's arrival to its rows on
 * screen, of which a 1440x900 window shows 14.
 */
export function useRowsShown(n: number): number {
  const [all, setAll] = useState(false);
  const first = rowsFillingWindow();
  const partial = !all && n > first;
  useEffect(() => {
    if (!partial) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const frame = requestAnimationFrame(() => {
      timer = setTimeout(() => startTransition(() => setAll(true)), 0);
    });
    return () => {
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, [partial]);
  return partial ? first : n;
}
