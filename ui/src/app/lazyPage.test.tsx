import { act, cleanup, render, screen } from '@testing-library/react';
import { Suspense, type ComponentType } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { lazyPage } from './lazyPage';

afterEach(cleanup);

function Hello() {
  return <p>hello</p>;
}

/** A chunk whose load the test resolves or rejects by hand. */
function chunk() {
  const calls: Array<{ resolve: (m: { default: typeof Hello }) => void; reject: (e: Error) => void }> = [];
  const load = () =>
    new Promise<{ default: typeof Hello }>((resolve, reject) => {
      calls.push({ resolve, reject });
    });
  return { load, calls };
}

const ui = (Page: ComponentType) => (
  <Suspense fallback={<p>loading</p>}>
    <Page />
  </Suspense>
);

describe('lazyPage', () => {
  it('renders a preloaded page at once, without its Suspense fallback', async () => {
    const c = chunk();
    const { Page, preload } = lazyPage(c.load);
    const loaded = preload();
    c.calls[0].resolve({ default: Hello });
    await loaded;
    render(ui(Page));
    // Synchronously: no fallback was ever committed.
    expect(screen.queryByText('loading')).toBeNull();
    expect(screen.getByText('hello')).toBeTruthy();
    expect(c.calls).toHaveLength(1);
  });

  it('suspends until a page not loaded yet arrives, loading it once', async () => {
    const c = chunk();
    const { Page, preload } = lazyPage(c.load);
    render(ui(Page));
    expect(screen.getByText('loading')).toBeTruthy();
    void preload(); // a second start shares the load under way
    expect(c.calls).toHaveLength(1);
    await act(async () => c.calls[0].resolve({ default: Hello }));
    expect(await screen.findByText('hello')).toBeTruthy();
  });

  it('loads again after a failed preload', async () => {
    const c = chunk();
    const { Page, preload } = lazyPage(c.load);
    const failed = preload();
    c.calls[0].reject(new Error('network'));
    await expect(failed).rejects.toThrow('network');
    const again = preload();
    expect(c.calls).toHaveLength(2);
    c.calls[1].resolve({ default: Hello });
    await again;
    render(ui(Page));
    expect(screen.getByText('hello')).toBeTruthy();
  });
});
