import { lazy, type ComponentType } from 'react';

/** A page loaded with its own chunk: the component to route to and what starts its load. */
export interface LazyPage {
  Page: ComponentType;
  /** Starts loading the chunk (once; later calls get the same promise). */
  preload(): Promise<unknown>;
}

/**
 * lazyPage is React's lazy() for a page's chunk, except that once the chunk
 * has loaded (preloaded at start, or visited before) the page renders at
 * once instead of suspending. A lazy() component suspends on its first
 * render even when its module is already there, and React then holds back
 * the content of a Suspense boundary that has just shown its fallback for
 * up to 300 ms (its fallback throttle): the page the console opens on would
 * wait that long after its chunk and its data had arrived.
 *
 * A load that fails is not kept: the lazy() path reports it to the error
 * boundary when the page renders, and a later preload tries again.
 */
export function lazyPage(load: () => Promise<{ default: ComponentType }>): LazyPage {
  let loaded: ComponentType | undefined;
  let loading: Promise<{ default: ComponentType }> | undefined;
  const preload = () => {
    loading ??= load().then(
      (m) => {
        loaded = m.default;
        return m;
      },
      (err: unknown) => {
        loading = undefined;
        throw err;
      },
    );
    return loading;
  };
  const Lazy = lazy(preload);
  function Page() {
    const Loaded = loaded;
    return Loaded ? <Loaded /> : <Lazy />;
  }
  return { Page, preload };
}
