import { NetworkAdapter } from '@automerge/automerge-repo'
import type { Message, PeerId, PeerMetadata } from '@automerge/automerge-repo'
import {
  encodeRouterFrame,
  MalformedRouterFrameError,
  parseRouterFrame,
  type AckFrame,
  type PushFrame,
} from '../protocol/router-frames.ts'

export type ConnectionState = 'offline' | 'connecting' | 'online'

/** What the connection needs from a WebSocket: the browser's, or Node 22's global one. */
export type WebSocketLike = Pick<
  WebSocket,
  'readyState' | 'send' | 'close' | 'addEventListener' | 'binaryType'
>

export interface RouterConnectionOptions {
  /** A fresh `ws(s)://…/sync?ticket=…` for each attempt (tickets are single-use). */
  url: () => Promise<string>
  /** Backoff between attempts: doubles from `minRetryMs` to `maxRetryMs`, with jitter. */
  minRetryMs?: number
  maxRetryMs?: number
  /** How long a new socket may take to open and be answered `peer` before it is dropped. */
  joinTimeoutMs?: number
  /** How long the Repo waits for a first connection before it treats documents as unavailable. */
  readyAfterMs?: number
  createSocket?: (url: string) => WebSocketLike
  onPush?: (frame: PushFrame) => void
  onAck?: (frame: AckFrame) => void
  /** Frames of our own this module does not parse (ephemeral messages): passed on as decoded. */
  onFrame?: (type: string, value: unknown) => void
  /** A frame that is not the protocol: the connection is closed and retried later. */
  onProtocolError?: (reason: string) => void
}

const OPEN = 1

/**
 * The client's side of the router's WebSocket protocol: automerge-repo's v1 wire format (CBOR
 * `join` → `peer`, then Repo messages), so the router sees an ordinary peer, plus our own
 * frames: pushed changes and acknowledgements. Written here instead of using the stock
 * `WebSocketClientAdapter` because that one hides unknown frames, cannot send ours, reuses one
 * URL for every attempt (our tickets are single-use) and retries on a fixed interval.
 */
export class RouterConnection extends NetworkAdapter {
  readonly #options: RouterConnectionOptions
  #socket: WebSocketLike | undefined
  #remotePeerId: PeerId | undefined
  #state: ConnectionState = 'offline'
  readonly #listeners = new Set<(state: ConnectionState) => void>()
  #stopped = true
  #attempt = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #ready = false
  #resolveReady: () => void = () => undefined
  readonly #readyPromise = new Promise<void>((resolve) => (this.#resolveReady = resolve))

  constructor(options: RouterConnectionOptions) {
    super()
    this.#options = options
  }

  get state(): ConnectionState {
    return this.#state
  }

  /** The router's peer id while connected. */
  get routerPeerId(): PeerId | undefined {
    return this.#remotePeerId
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  isReady(): boolean {
    return this.#ready
  }

  whenReady(): Promise<void> {
    return this.#readyPromise
  }

  #markReady(): void {
    if (this.#ready) return
    this.#ready = true
    this.#resolveReady()
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return
    this.#state = state
    for (const listener of this.#listeners) listener(state)
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata ?? {}
    this.#stopped = false
    // Offline, the Repo must still open what storage holds: ready after the first attempt or
    // a short wait, whichever comes first (the stock adapter waits 1 s).
    setTimeout(() => this.#markReady(), this.#options.readyAfterMs ?? 1000)
    void this.#open()
  }

  async #open(): Promise<void> {
    if (this.#stopped || this.#socket) return
    this.#setState('connecting')
    let url: string
    try {
      url = await this.#options.url()
    } catch {
      this.#scheduleRetry()
      return
    }
    if (this.#stopped || this.#socket) return
    let socket: WebSocketLike
    try {
      socket = (this.#options.createSocket ?? ((u) => new WebSocket(u)))(url)
    } catch {
      this.#scheduleRetry()
      return
    }
    socket.binaryType = 'arraybuffer'
    this.#socket = socket
    // A socket can hang before it opens or before the router answers the join (a router
    // shutting down still accepts the TCP connection): give up on it and try again.
    const timer = setTimeout(() => {
      if (this.#socket !== socket || this.#remotePeerId) return
      socket.close(4000, 'join timed out')
      this.#closed(socket)
    }, this.#options.joinTimeoutMs ?? 10_000)
    socket.addEventListener('close', () => clearTimeout(timer))
    socket.addEventListener('open', () => {
      if (this.#socket !== socket) return
      this.#write(socket, {
        type: 'join',
        senderId: this.peerId,
        peerMetadata: this.peerMetadata,
        supportedProtocolVersions: ['1'],
      })
    })
    socket.addEventListener('message', (event: MessageEvent) => {
      if (this.#socket === socket) this.#receive(socket, event.data)
    })
    socket.addEventListener('close', () => this.#closed(socket))
    socket.addEventListener('error', () => undefined)
  }

  #receive(socket: WebSocketLike, data: unknown): void {
    if (!(data instanceof ArrayBuffer)) {
      this.#protocolError(socket, 'text frame')
      return
    }
    let parsed
    try {
      parsed = parseRouterFrame(new Uint8Array(data))
    } catch (error) {
      this.#protocolError(
        socket,
        error instanceof MalformedRouterFrameError ? error.reason : 'bad frame',
      )
      return
    }
    switch (parsed.kind) {
      case 'peer':
        this.#remotePeerId = parsed.frame.senderId
        this.#attempt = 0
        this.#setState('online')
        this.#markReady()
        this.emit('peer-candidate', {
          peerId: parsed.frame.senderId,
          peerMetadata: (parsed.frame.peerMetadata ?? {}) as PeerMetadata,
        })
        return
      case 'error':
        // The router refused the join (its reason is in the message); the close follows.
        return
      case 'repo':
        if (parsed.frame.senderId !== this.#remotePeerId) return
        this.emit('message', parsed.frame as Message)
        return
      case 'push':
        if (parsed.frame.senderId === this.#remotePeerId) this.#options.onPush?.(parsed.frame)
        return
      case 'ack':
        if (parsed.frame.senderId === this.#remotePeerId) this.#options.onAck?.(parsed.frame)
        return
      case 'other':
        this.#options.onFrame?.(parsed.type, parsed.value)
        return
    }
  }

  #protocolError(socket: WebSocketLike, reason: string): void {
    this.#options.onProtocolError?.(reason)
    // 4008: our "policy violation" (browsers let scripts close only with 1000 or 3000-4999).
    socket.close(4008, 'protocol error')
    this.#closed(socket)
  }

  #closed(socket: WebSocketLike): void {
    if (this.#socket !== socket) return
    this.#socket = undefined
    const router = this.#remotePeerId
    this.#remotePeerId = undefined
    if (router) this.emit('peer-disconnected', { peerId: router })
    this.#markReady()
    if (this.#stopped) this.#setState('offline')
    else this.#scheduleRetry()
  }

  #scheduleRetry(): void {
    if (this.#stopped || this.#retryTimer) return
    this.#setState('offline')
    const min = this.#options.minRetryMs ?? 500
    const max = this.#options.maxRetryMs ?? 15_000
    const delay = Math.min(max, min * 2 ** Math.min(this.#attempt, 16))
    this.#attempt++
    // Jitter spreads the reconnects of many clients after a router restart.
    this.#retryTimer = setTimeout(
      () => {
        this.#retryTimer = undefined
        void this.#open()
      },
      delay / 2 + Math.random() * (delay / 2),
    )
  }

  /** Drops the socket and connects again (a fresh sync state on both sides). */
  reset(): void {
    const socket = this.#socket
    if (!socket) return
    socket.close(1000, 'reset')
    this.#closed(socket)
  }

  /** Tries at once instead of waiting out the backoff (the browser said it is online again). */
  retryNow(): void {
    if (this.#stopped || this.#socket) return
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#attempt = 0
    void this.#open()
  }

  send(message: Message): void {
    const socket = this.#socket
    if (!socket || socket.readyState !== OPEN || !this.#remotePeerId) return
    this.#write(socket, message)
  }

  /**
   * Sends a frame of our own: a push (addressed to the router like a Repo message) or an
   * ephemeral message (`addressed: false`: it is signed as it stands and relayed as it is).
   * False when not connected.
   */
  sendFrame(frame: Record<string, unknown>, options: { addressed?: boolean } = {}): boolean {
    const socket = this.#socket
    if (!socket || socket.readyState !== OPEN || !this.#remotePeerId) return false
    this.#write(
      socket,
      options.addressed === false
        ? frame
        : { ...frame, senderId: this.peerId, targetId: this.#remotePeerId },
    )
    return true
  }

  #write(socket: WebSocketLike, frame: object): void {
    // A copy into its own ArrayBuffer: the encoder's view may sit in a larger shared buffer.
    socket.send(new Uint8Array(encodeRouterFrame(frame)))
  }

  disconnect(): void {
    this.#stopped = true
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    const socket = this.#socket
    if (socket) {
      socket.close(1000, 'bye')
      this.#closed(socket)
    }
    this.#setState('offline')
  }
}
