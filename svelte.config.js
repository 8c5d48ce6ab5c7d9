// The Svelte compiler and preprocess settings, in one place: apps/web's Vite plugin
// imports this file, and editor tooling (svelte-language-server, svelte-check,
// eslint-plugin-svelte) reads it from the repository root. With SvelteKit 3 the
// Kit options (adapter, paths, CSP) live in apps/web/vite.config.ts instead.
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte'

/** @type {import('@sveltejs/vite-plugin-svelte').SvelteConfig} */
export default {
  preprocess: vitePreprocess(),
  compilerOptions: {
    runes: true,
  },
}
