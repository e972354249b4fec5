import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The build goes where the Go package core/webui embeds it from (build tag
// webui). Every page is loaded lazily by the router (src/app/routes.tsx), so
// each gets its own chunk; the first page loads only the shell and its page.
const outDir = fileURLToPath(new URL('../core/webui/dist', import.meta.url));

// QUANTIX_API (for `npm run dev`) is the quantixd that the dev server sends
// /api and /metrics to.
const api = process.env.QUANTIX_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: false, ws: true },
      '/metrics': { target: api, changeOrigin: false },
    },
  },
});
