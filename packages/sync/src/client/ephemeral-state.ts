import type { Did } from '@hearth/identity'
import type { EventId } from '../events/schema.ts'
import {
  EPHEMERAL_SKEW_MS,
  verifyEphemeral,
  type EphemeralBody,
  type EphemeralFrame,
} from '../protocol/ephemeral.ts'
import type { SpaceState } from '../reducer/types.ts'

export type PresenceState = EphemeralBody<'presence'>['state']

/** How long a "typing" lasts without a refresh (senders repeat it every few seconds). */
export const TYPING_TTL_MS = 6000
/** Nonces remembered against replays (the router checks too; a router is not trusted). */
const MAX_NONCES = 4096

/**
 * What a space's members say in passing: presence, typing, pokes and call signals. Nothing of
 * it is stored. A frame counts only if it parses, its author is a joined member whose bound
 * keys include its key, its signature verifies, its clock is near ours and its nonce is new;
 * a poke or a signal only if addressed to this DID.
 */
export class EphemeralState {
  readonly #me: Did
  readonly #presence = new Map<Did, { state: PresenceState; at: number }>()
  readonly #typing = new Map<EventId, Map<Did, number>>()
  readonly #nonces = new Set<string>()
  readonly #listeners = new Set<(frame: EphemeralFrame) => void>()
  /** Frames dropped, by reason (for diagnostics; never their contents). */
  readonly dropped = new Map<string, number>()

  constructor(me: Did) {
    this.#me = me
  }

  async receive(frame: EphemeralFrame, state: SpaceState, now = Date.now()): Promise<boolean> {
    const drop = (reason: string) => {
      this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1)
      return false
    }
    const member = state.members.get(frame.author)
    if (member?.status !== 'member') return drop('not-member')
    if (!member.keys.includes(frame.key)) return drop('key-not-bound')
    if (Math.abs(now - frame.ts) > EPHEMERAL_SKEW_MS) return drop('stale')
    if (frame.to !== undefined && frame.to !== this.#me) return drop('not-for-me')
    const nonce = `${frame.author}|${frame.nonce}`
    if (this.#nonces.has(nonce)) return drop('replay')
    // Claimed before the (asynchronous) signature check, so two copies arriving together
    // cannot both pass; given back if the signature fails, so a tampered copy sent first
    // cannot burn the genuine frame's nonce.
    if (this.#nonces.size >= MAX_NONCES) this.#nonces.delete(this.#nonces.values().next().value!)
    this.#nonces.add(nonce)
    if (!(await verifyEphemeral(frame))) {
      this.#nonces.delete(nonce)
      return drop('bad-signature')
    }
    if (frame.kind === 'presence') {
      const body = frame.body as EphemeralBody<'presence'>
      this.#presence.set(frame.author, { state: body.state, at: frame.ts })
    } else if (frame.kind === 'typing') {
      const body = frame.body as EphemeralBody<'typing'>
      let channel = this.#typing.get(body.channel)
      if (!channel) this.#typing.set(body.channel, (channel = new Map()))
      if (body.active) channel.set(frame.author, now + TYPING_TTL_MS)
      else channel.delete(frame.author)
    }
    for (const listener of this.#listeners) listener(frame)
    return true
  }

  presence(): ReadonlyMap<Did, { state: PresenceState; at: number }> {
    return this.#presence
  }

  /** Members typing in a channel now (this DID excluded). */
  typingIn(channel: EventId, now = Date.now()): Did[] {
    const typing = this.#typing.get(channel)
    if (!typing) return []
    const out: Did[] = []
    for (const [did, until] of typing) {
      if (until < now) typing.delete(did)
      else if (did !== this.#me) out.push(did)
    }
    return out
  }

  /** Every accepted frame (pokes and call signals are only passed on). */
  on(listener: (frame: EphemeralFrame) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}
