// The busy public space both benchmarks measure: 8 members, two channels, then messages,
// reactions to recent messages and edits by the founder, in a seeded mix. Harness events carry
// simulated signatures: the reducer never checks them, so building 100k stays cheap.
import type { EventId, SpaceEvent, SpaceId } from '../src/index.ts'
import { createActors, HARNESS_ACTOR_NAMES, SpaceBuilder } from '../src/harness/space-builder.ts'
import { Prng } from '../src/harness/prng.ts'

export interface WorkloadMix {
  /** Share of messages; then reactions; the rest are edits. */
  messages: number
  reactions: number
}

export function busySpace(n: number, mix: WorkloadMix): { spaceId: SpaceId; events: SpaceEvent[] } {
  const actors = createActors(HARNESS_ACTOR_NAMES)
  const founder = actors[0]!
  const prng = new Prng(7)
  const b = new SpaceBuilder()
  b.genesis(founder, 'PUBLIC')
  for (const a of actors.slice(1)) b.make(a, 'join', {})
  const channels = [
    b.make(founder, 'channel.create', { name: 'general' }).id,
    b.make(founder, 'channel.create', { name: 'random' }).id,
  ]
  const messages: EventId[] = []
  // The founder edits the latest of every eighth message (only the founder's own count as valid
  // edits; the others exercise the rejection path).
  let editTarget: EventId | undefined
  while (b.events.length < n) {
    const a = prng.pick(actors)
    const roll = prng.next()
    if (roll < mix.messages || messages.length === 0) {
      const id = b.make(a, 'message', {
        text: `message ${b.events.length} from ${a.name}`,
        channel: prng.pick(channels),
      }).id
      if (messages.length % 8 === 0) editTarget = id
      messages.push(id)
    } else if (roll < mix.messages + mix.reactions) {
      b.make(a, 'reaction.add', { target: prng.pick(messages.slice(-50)), emoji: '👍' })
    } else {
      b.make(founder, 'edit', { target: editTarget ?? messages[0]!, text: 'edited' })
    }
  }
  return { spaceId: b.spaceId!, events: b.events }
}
