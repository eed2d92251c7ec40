import { defineConfig } from 'vite';

/**
 * Built to dist/ and served by the api under /console/ (same origin as the API it calls), so
 * asset URLs are rooted there. JSX goes through Vite's own transformer (no React plugin: the
 * console needs no fast refresh to be built, and one dependency fewer).
 */
export default defineConfig({
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, target: 'es2022' },
});
