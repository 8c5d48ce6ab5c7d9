import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import adapter from '@sveltejs/adapter-static'
import { sveltekit } from '@sveltejs/kit/vite'
import { defineConfig } from 'vite'
import type { Plugin } from 'vite'
import wasm from 'vite-plugin-wasm'
import svelteConfig from '../../svelte.config.js'
import { cborNoEval } from './vite-plugins.ts'

// The build is the same everywhere: pdsUrl, resolver, PLC and keyserver come from
// /config.json at runtime (see src/lib/config), so nothing here is per machine.
//
// CSP: scripts only from our origin plus the hashes Kit computes for its own boot
// script; no 'unsafe-inline' anywhere. connect-src has to reach any user's PDS and
// the identity services, which only config.json names, hence `https:`; loopback
// http is allowed for the development network (browsers treat 127.0.0.1 and localhost as
// trustworthy origin, so this opens no path to the public network).
// frame-ancestors cannot be set from a <meta> tag: serve.ts sends it as a header.
// What `npm start` runs (the devnet's default ports), for `vite dev` and `vite preview`.
const DEVNET_CONFIG = {
  mode: 'development',
  handleResolver: 'http://127.0.0.1:2584',
  plcUrl: 'http://localhost:2582',
  pdsUrl: 'http://localhost:2583',
  keyserverUrl: 'http://localhost:2585',
  keyserverDid: 'did:web:localhost%3A2585',
  routerUrl: 'http://localhost:2586',
  routerDid: 'did:web:localhost%3A2586',
}

/**
 * Serves /config.json in `vite dev` and `vite preview` only (the devnet defaults, or the
 * file named by HEARTH_WEB_CONFIG). Builds never contain a config: serve.ts or the
 * production host provides it next to the build.
 */
function devConfigJson(): Plugin {
  function serveConfig(req: IncomingMessage, res: ServerResponse, next: () => void): void {
    if (req.url?.split('?')[0] !== '/config.json') return next()
    const file = process.env.HEARTH_WEB_CONFIG
    res.setHeader('content-type', 'application/json')
    res.setHeader('cache-control', 'no-cache')
    res.end(file ? readFileSync(file, 'utf8') : JSON.stringify(DEVNET_CONFIG))
  }
  return {
    name: 'hearth-dev-config-json',
    apply: 'serve',
    configureServer: (server) => void server.middlewares.use(serveConfig),
    configurePreviewServer: (server) => void server.middlewares.use(serveConfig),
  }
}

export default defineConfig({
  // 127.0.0.1, not localhost: the OAuth loopback client's redirect URI must be an IP.
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  plugins: [
    devConfigJson(),
    cborNoEval(),
    wasm(),
    sveltekit({
      ...svelteConfig,
      adapter: adapter({ fallback: '200.html', strict: true }),
      csp: {
        mode: 'hash',
        directives: {
          'default-src': ['self'],
          'script-src': ['self', 'wasm-unsafe-eval'],
          'style-src': ['self'],
          // Kit's route announcer (a visually hidden live region) carries this one inline
          // style attribute; allow exactly it rather than 'unsafe-inline'.
          'style-src-attr': [
            'unsafe-hashes',
            'sha256-S8qMpvofolR8Mpjy4kQvEm7m1q8clzU4dfDH0AmvZjo=',
          ],
          'img-src': ['self', 'data:', 'blob:'],
          'font-src': ['self'],
          // wss: the router's sync socket (its host comes from config.json); ws on
          // loopback for the development network, like http above.
          'connect-src': [
            'self',
            'https:',
            'wss:',
            'http://127.0.0.1:*',
            'http://localhost:*',
            'ws://127.0.0.1:*',
            'ws://localhost:*',
          ],
          'worker-src': ['self'],
          'manifest-src': ['self'],
          'object-src': ['none'],
          'base-uri': ['self'],
          'form-action': ['self'],
        },
      },
    }),
  ],
  worker: { plugins: () => [wasm()] },
  // Kit's server runtime (used only at build time to generate the fallback page) needs
  // cookie@2, which npm nests under @sveltejs/kit because the PDS pins cookie@0.7 at
  // the root: bundle it instead of resolving it from the build output.
  ssr: { noExternal: ['cookie'] },
  build: { target: 'es2023' },
})
