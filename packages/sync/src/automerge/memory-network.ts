import { NetworkAdapter } from '@automerge/automerge-repo'
import type { Message, PeerId, PeerMetadata } from '@automerge/automerge-repo'

/** Decides when (and whether) a message crosses a link: the harness plugs a seeded scheduler in. */
export type Deliver = (deliver: () => void, message: Message) => void

const immediate: Deliver = (deliver) => queueMicrotask(deliver)

/**
 * One end of an in-memory link between two Repos. Both ends announce each other once both
 * have connected; `cut()` disconnects the link from both sides (a partition), and a new
 * pair heals it.
 */
export class MemoryLinkAdapter extends NetworkAdapter {
  #other: MemoryLinkAdapter | undefined
  #connected = false
  #announced = false
  #closed = false
  readonly #deliver: Deliver

  constructor(deliver: Deliver = immediate) {
    super()
    this.#deliver = deliver
  }

  static pair(deliver?: Deliver): [MemoryLinkAdapter, MemoryLinkAdapter] {
    const a = new MemoryLinkAdapter(deliver)
    const b = new MemoryLinkAdapter(deliver)
    a.#other = b
    b.#other = a
    return [a, b]
  }

  isReady(): boolean {
    return true
  }

  whenReady(): Promise<void> {
    return Promise.resolve()
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata ?? {}
    this.#connected = true
    const other = this.#other
    if (other && other.#connected && !this.#closed) {
      this.#announce()
      other.#announce()
    }
  }

  #announce(): void {
    const other = this.#other
    if (this.#announced || !other?.peerId) return
    this.#announced = true
    const peerId = other.peerId
    const peerMetadata = other.peerMetadata ?? {}
    queueMicrotask(() => this.emit('peer-candidate', { peerId, peerMetadata }))
  }

  send(message: Message): void {
    const other = this.#other
    if (!other || this.#closed || !this.#connected) return
    this.#deliver(() => {
      if (!other.#closed && other.#connected) other.emit('message', message)
    }, message)
  }

  /** Sends raw bytes as if the peer's Repo had (for attacks that bypass any client). */
  inject(message: Omit<Message, 'senderId' | 'targetId'>): void {
    const other = this.#other
    if (!other?.peerId || !this.peerId) throw new Error('link not connected')
    this.send({ ...message, senderId: this.peerId, targetId: other.peerId } as Message)
  }

  /** Drops and re-opens the link: both sides see a disconnect, then a fresh connection. */
  bounce(): void {
    const ends = [this, this.#other]
    for (const end of ends) {
      if (!end || end.#closed || !end.#announced) continue
      const peerId = end.#other?.peerId
      end.#announced = false
      if (peerId) end.emit('peer-disconnected', { peerId })
    }
    for (const end of ends) if (end) end.#announce()
  }

  /** Partitions the link: both sides see the other disconnect. */
  cut(): void {
    for (const end of [this, this.#other]) {
      if (!end || end.#closed) continue
      end.#closed = true
      const peerId = end.#other?.peerId
      if (end.#announced && peerId) end.emit('peer-disconnected', { peerId })
    }
  }

  disconnect(): void {
    this.cut()
    this.#connected = false
  }
}
