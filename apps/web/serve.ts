// A small static server for the built app (apps/web/build): the files, the SPA
// fallback (200.html) for every other path, and /config.json generated from the
// configuration it is given, so the same build runs against any network.
// Used by `npm start` (through the devnet start script) and by the browser tests.
//
//   import { startWebServer } from './apps/web/serve.ts'
//   const web = await startWebServer({ port: 0, config: { mode: 'development', ... } })
//   web.url // http://127.0.0.1:PORT — open the app there, not at localhost (OAuth loopback rule)

import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AppConfig } from './src/lib/config/app-config.ts'

export type WebConfig = Omit<AppConfig, 'pdsUrl' | 'clientId' | 'routerUrl' | 'routerDid'> & {
  pdsUrl?: string | null
  clientId?: string | null
  routerUrl?: string | null
  routerDid?: string | null
}

export interface WebServerOptions {
  /** 0 picks a free port. */
  port: number
  /** Defaults to 127.0.0.1: the OAuth loopback client needs an IP origin. */
  host?: string
  config: WebConfig
  /** Defaults to apps/web/build. */
  buildDir?: string
}

export interface WebServer {
  url: string
  close(): Promise<void>
}

export class WebBuildMissingError extends Error {
  readonly buildDir: string
  constructor(buildDir: string) {
    super(
      `The web app is not built (no ${join(buildDir, '200.html')}): run \`npm run build -w apps/web\` first`,
    )
    this.name = 'WebBuildMissingError'
    this.buildDir = buildDir
  }
}

const DEFAULT_BUILD_DIR = fileURLToPath(new URL('./build/', import.meta.url))
const FALLBACK = '200.html'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
}

// The page's own CSP is a <meta> tag from the build; these are the parts a meta tag
// cannot carry.
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
}

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body?: string | Buffer,
): void {
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers })
  res.end(body)
}

async function fileIfExists(path: string): Promise<number | null> {
  try {
    const info = await stat(path)
    return info.isFile() ? info.size : null
  } catch {
    return null
  }
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const buildDir = normalize(options.buildDir ?? DEFAULT_BUILD_DIR)
  const root = buildDir.endsWith(sep) ? buildDir : buildDir + sep
  if ((await fileIfExists(join(root, FALLBACK))) === null) throw new WebBuildMissingError(root)
  const host = options.host ?? '127.0.0.1'
  const configJson = JSON.stringify(
    { pdsUrl: null, clientId: null, routerUrl: null, routerDid: null, ...options.config },
    null,
    2,
  )

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { allow: 'GET, HEAD' })
      return
    }
    let pathname: string
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://host').pathname)
    } catch {
      send(res, 400, { 'content-type': 'text/plain' }, 'bad request')
      return
    }
    if (pathname === '/config.json') {
      send(
        res,
        200,
        { 'content-type': TYPES['.json'] as string, 'cache-control': 'no-cache' },
        req.method === 'HEAD' ? undefined : configJson,
      )
      return
    }
    const path = normalize(join(root, pathname))
    const inside = path.startsWith(root) && !pathname.includes('\0')
    const size = inside ? await fileIfExists(path) : null
    if (size === null) {
      // Missing build files are real 404s (a stale page asking for old chunks must
      // fail loudly); any other path is an app route, answered by the SPA shell.
      if (pathname.startsWith('/_app/') || extname(pathname) !== '') {
        send(res, 404, { 'content-type': 'text/plain' }, 'not found')
        return
      }
      await sendFile(req, res, join(root, FALLBACK), 'no-cache')
      return
    }
    const cache = pathname.startsWith('/_app/immutable/')
      ? 'public, max-age=31536000, immutable'
      : 'no-cache'
    await sendFile(req, res, path, cache)
  }

  async function sendFile(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    cacheControl: string,
  ): Promise<void> {
    const size = await fileIfExists(path)
    if (size === null) {
      send(res, 404, { 'content-type': 'text/plain' }, 'not found')
      return
    }
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
      'content-length': String(size),
      'cache-control': cacheControl,
    }
    if (path.endsWith('service-worker.js')) headers['service-worker-allowed'] = '/'
    res.writeHead(200, headers)
    if (req.method === 'HEAD') {
      res.end()
      return
    }
    createReadStream(path)
      .on('error', () => res.destroy())
      .pipe(res)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { 'content-type': 'text/plain' }, 'internal error')
      else res.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const urlHost = host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}

// `node apps/web/serve.ts <config.json> [port] [host]`: serve the build with a config file
// (for trying a build against any network; `npm start` imports startWebServer instead).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [configPath, port = '2586', host = '127.0.0.1'] = process.argv.slice(2)
  if (!configPath) {
    console.error('usage: node apps/web/serve.ts <config.json> [port] [host]')
    process.exit(2)
  }
  const { readFile } = await import('node:fs/promises')
  const config = JSON.parse(await readFile(configPath, 'utf8')) as WebConfig
  const web = await startWebServer({ port: Number(port), host, config })
  console.log(`Hearth web app: ${web.url}`)
}
