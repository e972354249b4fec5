import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  test: {
    environment: 'jsdom',
    globals: false,
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    // PatternFly's class-name modules import their CSS: through Vite (which
    // css: false empties), not Node's loader.
    server: { deps: { inline: [/@patternfly\/react-styles/] } },
    restoreMocks: true,
    testTimeout: 20_000,
  },
});
