import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterEach } from 'vitest';

// Pages are lazy-loaded chunks: on a busy machine the first render of a big
// page in jsdom takes seconds, so findBy* queries wait up to 5 s.
configure({ asyncUtilTimeout: 5000 });

afterEach(() => {
  cleanup();
  localStorage.clear();
});

// jsdom has no EventSource: pages that follow the API's streams get one that
// stays connecting and delivers nothing (a test that needs events stubs its own).
if (!('EventSource' in globalThis)) {
  class IdleEventSource extends EventTarget {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSED = 2;
    readonly url: string;
    readyState = 0;
    withCredentials = false;
    onopen: ((ev: Event) => void) | null = null;
    onerror: ((ev: Event) => void) | null = null;
    onmessage: ((ev: MessageEvent) => void) | null = null;
    constructor(url: string | URL) {
      super();
      this.url = String(url);
    }
    close() {
      this.readyState = 2;
    }
  }
  (globalThis as { EventSource?: unknown }).EventSource = IdleEventSource;
}
