import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The BFF is the UI's only backend; the dev server and `vite preview` proxy to it.
const bff = process.env.BFF_URL ?? 'http://127.0.0.1:8000';
const proxy = {
  '/api': { target: bff, changeOrigin: true },
  '/ws': { target: bff, changeOrigin: true, ws: true },
};

export default defineConfig({
  plugins: [react()],
  // Assets are served by the BFF from frontend/dist at "/", so URLs are absolute from "/".
  base: '/',
  server: { port: 3000, strictPort: true, proxy },
  preview: { port: 4173, strictPort: true, proxy },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    css: false,
    restoreMocks: true,
  },
});
