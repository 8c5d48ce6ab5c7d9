import {
  isEventId,
  MAX_NAME_CHARS,
  MAX_TEXT_CHARS,
  type ContainerView,
  type EventId,
  type SpaceEntry,
  type SpaceId,
  type SpaceSession,
} from '@hearth/sync'
import { ChatError, UsageError } from './errors.ts'

export { ChatError, UsageError }

// Control characters (C0, DEL, C1) have no place in a name shown in a list or a terminal.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** A space or channel name: trimmed, 1..MAX_NAME_CHARS characters, no control characters. */
export function parseName(raw: string, what: string): string {
  const name = raw.trim()
  if (name.length === 0) throw new UsageError(`the ${what} name is empty`)
  if (name.length > MAX_NAME_CHARS)
    throw new UsageError(`the ${what} name is longer than ${MAX_NAME_CHARS} characters`)
  if (CONTROL.test(name)) throw new UsageError(`the ${what} name holds control characters`)
  return name
}

/** A message text: not blank, at most MAX_TEXT_CHARS (UTF-16 units, as the event schema counts). */
export function parseText(text: string): string {
  if (text.trim().length === 0) throw new UsageError('the message is empty')
  if (text.length > MAX_TEXT_CHARS)
    throw new UsageError(
      `the message is ${text.length} characters long; at most ${MAX_TEXT_CHARS} are allowed`,
    )
  return text
}

export function parseLimit(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0 || n > 100_000)
    throw new UsageError('--limit takes a whole number from 1 to 100000')
  return n
}

/**
 * A space named on the command line: its id, or a unique (case-insensitive) prefix of the name
 * of a space this device follows — an exact name wins over longer names it prefixes.
 */
export function findSpace(spaces: readonly SpaceEntry[], arg: string): SpaceId {
  if (isEventId(arg)) return arg as SpaceId
  const wanted = arg.trim().toLowerCase()
  if (wanted.length === 0) throw new UsageError('the space is empty')
  const named = spaces.filter((s) => s.name?.toLowerCase().startsWith(wanted))
  const exact = named.filter((s) => s.name?.toLowerCase() === wanted)
  const found = exact.length === 1 ? exact : named
  if (found.length === 1) return found[0]!.spaceId
  if (found.length === 0)
    throw new ChatError(`no space named "${arg}" on this device (see \`hearth space list\`)`)
  throw new ChatError(
    `"${arg}" names ${found.length} spaces (${found
      .slice(0, 5)
      .map((s) => `${s.name} ${s.spaceId}`)
      .join(', ')}); use the id`,
  )
}

/** The space's channels, oldest first (by creation time, then id: the same on every device). */
export function channelsOf(session: SpaceSession): ContainerView[] {
  const created = (c: ContainerView) => session.event(c.id)?.ts ?? 0
  return [...session.state.containers.values()]
    .filter((c) => c.type === 'channel' && !c.archived)
    .sort((a, b) => created(a) - created(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/** A channel by id, by name (a leading `#` allowed) or unique name prefix; the first by default. */
export function findChannel(session: SpaceSession, arg: string | undefined): ContainerView {
  const channels = channelsOf(session)
  if (arg === undefined) {
    const first = channels[0]
    if (!first)
      throw new ChatError('this space has no channel yet (`hearth channel create <space> <name>`)')
    return first
  }
  const byId = channels.find((c) => c.id === arg)
  if (byId) return byId
  const wanted = arg.replace(/^#/, '').toLowerCase()
  const named = channels.filter((c) => c.name.toLowerCase().startsWith(wanted))
  const exact = named.filter((c) => c.name.toLowerCase() === wanted)
  const found = exact.length >= 1 ? exact : named
  if (found.length === 1 || exact.length > 1) return found[0]!
  if (found.length === 0) throw new ChatError(`no channel "${arg}" in this space`)
  throw new ChatError(`"${arg}" names ${found.length} channels; use the name in full or the id`)
}

export type { EventId }
