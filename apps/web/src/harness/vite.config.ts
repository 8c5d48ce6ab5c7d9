// The component harness: a separate Vite build of the chat components over reducer-backed
// spaces (no network, no sign-in), used only by the browser tests (tests/browser/web-*).
// It is never part of the app's build (Kit builds src/routes; nothing there imports this
// folder) and carries the app's CSP, so the S14 corpus runs under the same policy.
//
//   npx vite build --config apps/web/src/harness/vite.config.ts   # → apps/web/.svelte-kit/harness
import { fileURLToPath } from 'node:url'
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vite'
import wasm from 'vite-plugin-wasm'
import svelteConfig from '../../../../svelte.config.js'
import { cborNoEval } from '../../vite-plugins.ts'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

export default defineConfig({
  root: here('.'),
  base: '/',
  plugins: [cborNoEval(), wasm(), svelte(svelteConfig)],
  worker: { plugins: () => [wasm()] },
  resolve: {
    // @hearth/sync/testing re-exports its contract suites, which import vitest: the
    // harness uses only SpaceBuilder, so vitest becomes an empty module here.
    alias: { vitest: here('./vitest-stub.ts') },
  },
  build: {
    target: 'es2023',
    outDir: here('../../.svelte-kit/harness'),
    emptyOutDir: true,
    rollupOptions: { input: here('./200.html') },
    chunkSizeWarningLimit: 4000,
  },
})
