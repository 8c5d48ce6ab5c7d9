import { asHandle, isDid, type Did } from '@hearth/identity'
import {
  waitFor,
  type EventId,
  type MessageView,
  type SpaceId,
  type SpaceMode,
  type SpaceSession,
} from '@hearth/sync'
import { ChatClient } from '../chat-client.ts'
import {
  ChatError,
  channelsOf,
  findChannel,
  findSpace,
  parseName,
  parseText,
} from '../chat-targets.ts'
import type { CliConfig } from '../config.ts'
import { HandleBook } from '../handles.ts'
import { resolveIdentity } from '../network.ts'

/** Quiet spell after which a synced space is taken as caught up (see ChatClient.settle). */
const QUIET_ONLINE_MS = Number(process.env.HEARTH_SYNC_QUIET_MS) || 1200
const QUIET_OFFLINE_MS = 200

export interface Context {
  home: string
  config: CliConfig
  /** A line for the user that is not the command's output (warnings, progress). */
  note: (line: string) => void
}

async function withChat<T>(
  ctx: Context,
  options: { online?: boolean },
  run: (chat: ChatClient) => Promise<T>,
): Promise<T> {
  const chat = await ChatClient.open(ctx.home, ctx.config, options)
  try {
    return await run(chat)
  } finally {
    await chat.close()
  }
}

interface Opened {
  session: SpaceSession
  online: boolean
}

/**
 * Opens a space (by id or name prefix), reaches the router and lets the space settle. Without
 * the router, `needRouter` commands fail; the others go on with this device's copy.
 */
async function openSpace(
  ctx: Context,
  chat: ChatClient,
  arg: string,
  needRouter: boolean,
): Promise<Opened> {
  const spaceId = findSpace(chat.client.spaces(), arg)
  const followed = chat.client.spaces().some((s) => s.spaceId === spaceId)
  const session = await chat.client.openSpace(spaceId)
  const online = await chat.online()
  if (!online) {
    if (needRouter) throw new ChatError(`${chat.offlineReason}: try again when it is back`)
    ctx.note(`${chat.offlineReason}; showing what this device holds`)
  }
  await chat.settle(session, online ? QUIET_ONLINE_MS : QUIET_OFFLINE_MS)
  if (online) await sendWaiting(ctx, chat, session)
  if (!session.known) {
    // Never leave a space the user only tried to look at in `space list`.
    if (!followed) await chat.client.forgetSpace(spaceId)
    throw new ChatError(
      online
        ? `space ${spaceId} was not found, or you are not a member of it`
        : `space ${spaceId} is not on this device and the router is unreachable`,
    )
  }
  return { session, online }
}

/**
 * Messages this device wrote while the router was unreachable go out when a command next opens
 * the space online (by sync): wait for their acknowledgement, so the command does not close
 * before they are stored.
 */
async function sendWaiting(ctx: Context, chat: ChatClient, session: SpaceSession): Promise<void> {
  const waiting = () => {
    for (const m of session.state.messages.values())
      if (m.author === chat.did && session.delivery(m.id) !== 'stored') return true
    return false
  }
  if (!waiting()) return
  try {
    await waitFor(session, () => !waiting(), chat.timeoutMs)
  } catch {
    ctx.note('messages written on this device are not yet confirmed by the router')
  }
}

function spaceName(session: SpaceSession): string {
  const genesis = session.event(session.spaceId)
  return (
    session.state.profile.name ??
    (genesis?.kind === 'genesis' ? genesis.body.name : session.spaceId)
  )
}

function requireMember(chat: ChatClient, session: SpaceSession): void {
  const me = session.state.members.get(chat.did)
  if (me?.status !== 'member')
    throw new ChatError(
      `you are not a member of ${spaceName(session)} (${me?.status ?? 'never joined'})`,
    )
}

/** Throws when this device's reducer refused the event it just wrote (e.g. not permitted). */
function requireApplied(session: SpaceSession, id: EventId, what: string): void {
  const invalid = session.state.invalid.get(id)
  if (invalid) throw new ChatError(`${what} was refused by the space's rules: ${invalid.reason}`)
}

/**
 * Waits for the router's acknowledgement. True once stored; false when offline or it did not
 * come in time (the event is on this device and goes out the next time it connects).
 */
async function stored(
  chat: ChatClient,
  session: SpaceSession,
  id: EventId,
  online: boolean,
): Promise<boolean> {
  if (!online) return false
  try {
    await waitFor(session, () => session.delivery(id) === 'stored', chat.timeoutMs)
    return true
  } catch {
    return false
  }
}

const LATER =
  'saved on this device; it will be sent by `hearth sync` or the next command that reaches the router for this space'

// space ------------------------------------------------------------------------------------

export async function spaceCreate(
  ctx: Context,
  input: { name: string; mode: SpaceMode; channel: string },
): Promise<{ spaceId: SpaceId; channelId: EventId; stored: boolean }> {
  const name = parseName(input.name, 'space')
  const channelName = parseName(input.channel, 'channel')
  return withChat(ctx, {}, async (chat) => {
    const session = await chat.client.createSpace({ name, mode: input.mode })
    const channelId = await session.createChannel(channelName)
    const online = await chat.online()
    // The channel's creation names the genesis as its parent: once it is acknowledged, the
    // router holds the space document.
    const ok = await stored(chat, session, channelId, online)
    if (!ok)
      ctx.note(`${online ? 'the router has not confirmed it yet' : chat.offlineReason}; ${LATER}`)
    return { spaceId: session.spaceId, channelId, stored: ok }
  })
}

export async function spaceList(
  ctx: Context,
): Promise<{ spaceId: SpaceId; name: string | null }[]> {
  return withChat(ctx, { online: false }, async (chat) =>
    chat.client.spaces().map((s) => ({ spaceId: s.spaceId, name: s.name })),
  )
}

export async function resolveInvitee(
  ctx: Context,
  arg: string,
): Promise<{ did: Did; handle: string | null }> {
  if (isDid(arg)) return { did: arg, handle: null }
  const handle = asHandle(arg)
  const identity = await resolveIdentity(ctx.config.resolverUrl, handle)
  if (!identity.handleVerified)
    throw new ChatError(
      `${handle} points at ${identity.did}, whose DID document does not claim the handle back`,
    )
  return { did: identity.did, handle }
}

export async function spaceInvite(
  ctx: Context,
  input: { space: string; who: string },
): Promise<{ did: Did; handle: string | null; stored: boolean }> {
  const invitee = await resolveInvitee(ctx, input.who)
  return withChat(ctx, {}, async (chat) => {
    const { session, online } = await openSpace(ctx, chat, input.space, false)
    requireMember(chat, session)
    if (invitee.did === chat.did) throw new ChatError('you cannot invite yourself')
    const status = session.state.members.get(invitee.did)?.status
    if (status === 'member' || status === 'invited' || status === 'banned')
      throw new ChatError(`${invitee.handle ?? invitee.did} is already ${status} in this space`)
    const id = await session.invite(invitee.did)
    requireApplied(session, id, 'the invitation')
    if (invitee.handle) {
      const book = await HandleBook.open(ctx.home, ctx.config.resolverUrl)
      book.remember(invitee.did, invitee.handle)
      await book.save()
    }
    const ok = await stored(chat, session, id, online)
    if (!ok) ctx.note(LATER)
    return { ...invitee, stored: ok }
  })
}

export async function spaceJoin(
  ctx: Context,
  input: { space: string },
): Promise<{ spaceId: SpaceId; name: string; already: boolean }> {
  return withChat(ctx, {}, async (chat) => {
    const spaceId = findSpace(chat.client.spaces(), input.space)
    const followed = chat.client.spaces().some((s) => s.spaceId === spaceId)
    if (!(await chat.online()))
      throw new ChatError(`${chat.offlineReason}: joining needs the router`)
    const session = await chat.client.openSpace(spaceId)
    try {
      await waitFor(session, (state) => state.mode !== null, chat.timeoutMs)
    } catch {
      if (!followed) await chat.client.forgetSpace(spaceId)
      throw new ChatError(`space ${spaceId} was not found, or you are not invited to it`)
    }
    const me = session.state.members.get(chat.did)
    if (me?.status === 'member') return { spaceId, name: spaceName(session), already: true }
    if (me?.status === 'banned') throw new ChatError('you are banned from this space')
    const id = await session.join()
    requireApplied(session, id, 'joining')
    if (!(await stored(chat, session, id, true)))
      throw new ChatError('the router did not confirm the join in time; try again')
    // Once the join is stored, the channels the router held back from an invitee come in.
    await chat.settle(session, QUIET_ONLINE_MS)
    return { spaceId, name: spaceName(session), already: false }
  })
}

export interface MemberLine {
  did: Did
  handle: string | null
  role: string
  status: string
}

export async function spaceMembers(ctx: Context, input: { space: string }): Promise<MemberLine[]> {
  return withChat(ctx, {}, async (chat) => {
    const { session, online } = await openSpace(ctx, chat, input.space, false)
    const members = [...session.state.members.values()]
    const book = await HandleBook.open(ctx.home, ctx.config.resolverUrl)
    book.remember(chat.did, chat.handle)
    const handleOf = await book.resolve(
      members.map((m) => m.did),
      online,
    )
    await book.save()
    return members.map((m) => ({
      did: m.did,
      handle: handleOf(m.did),
      role: m.role,
      status: m.status,
    }))
  })
}

/**
 * Brings the followed spaces (or one) up to date with the router and sends what waits on this
 * device. Returns, per space, how many of this device's messages are still unconfirmed.
 */
export async function sync(
  ctx: Context,
  input: { space: string | undefined },
): Promise<{ spaceId: SpaceId; name: string; waiting: number }[]> {
  return withChat(ctx, {}, async (chat) => {
    const ids =
      input.space === undefined
        ? chat.client.spaces().map((s) => s.spaceId)
        : [findSpace(chat.client.spaces(), input.space)]
    if (!(await chat.online())) throw new ChatError(`${chat.offlineReason}: nothing was sent`)
    const results = []
    for (const spaceId of ids) {
      let session: SpaceSession
      try {
        ;({ session } = await openSpace(ctx, chat, spaceId, true))
      } catch (error) {
        // One space the router no longer shares does not stop the others.
        if (!(error instanceof ChatError) || input.space !== undefined) throw error
        ctx.note(error.message)
        continue
      }
      let waiting = 0
      for (const m of session.state.messages.values())
        if (m.author === chat.did && session.delivery(m.id) !== 'stored') waiting++
      results.push({ spaceId, name: spaceName(session), waiting })
    }
    return results
  })
}

// channels -----------------------------------------------------------------------------------

export async function channelCreate(
  ctx: Context,
  input: { space: string; name: string },
): Promise<{ channelId: EventId; stored: boolean }> {
  const name = parseName(input.name, 'channel')
  return withChat(ctx, {}, async (chat) => {
    const { session, online } = await openSpace(ctx, chat, input.space, false)
    requireMember(chat, session)
    if (channelsOf(session).some((c) => c.name.toLowerCase() === name.toLowerCase()))
      throw new ChatError(`a channel named "${name}" exists already`)
    const id = await session.createChannel(name)
    requireApplied(session, id, 'the channel')
    const ok = await stored(chat, session, id, online)
    if (!ok) ctx.note(LATER)
    return { channelId: id, stored: ok }
  })
}

export async function channelList(
  ctx: Context,
  input: { space: string },
): Promise<{ id: EventId; name: string }[]> {
  return withChat(ctx, {}, async (chat) => {
    const { session } = await openSpace(ctx, chat, input.space, false)
    return channelsOf(session).map((c) => ({ id: c.id, name: c.name }))
  })
}

// messages -----------------------------------------------------------------------------------

export async function send(
  ctx: Context,
  input: { space: string; channel: string | undefined; text: string; wait: boolean },
): Promise<{ id: EventId; stored: boolean; sent: boolean }> {
  const text = parseText(input.text)
  return withChat(ctx, {}, async (chat) => {
    const { session, online } = await openSpace(ctx, chat, input.space, false)
    requireMember(chat, session)
    const channel = findChannel(session, input.channel)
    const id = await session.send(channel.id, text)
    requireApplied(session, id, 'the message')
    const ok = input.wait && (await stored(chat, session, id, online))
    if (!ok) await chat.client.flush()
    // Online, the write was pushed at once; offline it waits in the outbox.
    return { id, stored: ok, sent: online && !ok && !input.wait }
  })
}

export interface MessageLine {
  id: EventId
  author: Did
  handle: string | null
  text: string | null
  ts: number
  edited: boolean
  replyTo: EventId | null
  delivery: string
}

function messageLine(
  session: SpaceSession,
  handleOf: (did: Did) => string | null,
  m: MessageView,
): MessageLine {
  return {
    id: m.id,
    author: m.author,
    handle: handleOf(m.author),
    text: m.text,
    ts: m.ts,
    edited: m.edited,
    replyTo: m.replyTo,
    delivery: session.delivery(m.id),
  }
}

export function formatMessage(line: MessageLine): string {
  const when = new Date(line.ts).toISOString().slice(0, 16).replace('T', ' ')
  const text = line.text === null ? '(deleted)' : line.text
  const marks = [
    line.edited ? '(edited)' : '',
    line.delivery === 'stored' ? '' : `[${line.delivery}]`,
  ]
  return [`${when} ${line.handle ?? line.author}:`, text, ...marks].filter(Boolean).join(' ')
}

export async function read(
  ctx: Context,
  input: { space: string; channel: string | undefined; limit: number },
): Promise<MessageLine[]> {
  return withChat(ctx, {}, async (chat) => {
    const { session, online } = await openSpace(ctx, chat, input.space, false)
    const channel = findChannel(session, input.channel)
    const messages = session.timeline(channel.id).slice(-input.limit)
    const book = await HandleBook.open(ctx.home, ctx.config.resolverUrl)
    book.remember(chat.did, chat.handle)
    const handleOf = await book.resolve(
      messages.map((m) => m.author),
      online,
    )
    await book.save()
    return messages.map((m) => messageLine(session, handleOf, m))
  })
}

/**
 * Prints each new message of the channel as it arrives until `stop` resolves (SIGINT), then
 * closes cleanly. `ready` is called once the space has caught up: only later messages print.
 */
export async function tail(
  ctx: Context,
  input: { space: string; channel: string | undefined },
  print: (line: MessageLine) => void,
  ready: (channel: string) => void,
  stop: Promise<void>,
): Promise<void> {
  await withChat(ctx, {}, async (chat) => {
    const { session } = await openSpace(ctx, chat, input.space, true)
    const channel = findChannel(session, input.channel)
    const seen = new Set(session.timeline(channel.id).map((m) => m.id))
    const book = await HandleBook.open(ctx.home, ctx.config.resolverUrl)
    book.remember(chat.did, chat.handle)
    // Lines print in order: a lookup of a new author's handle never lets a later line overtake.
    let printing = Promise.resolve()
    const unsubscribe = session.subscribe(() => {
      const fresh = session.timeline(channel.id).filter((m) => !seen.has(m.id))
      if (fresh.length === 0) return
      for (const m of fresh) seen.add(m.id)
      printing = printing.then(async () => {
        const handleOf = await book.resolve(
          fresh.map((m) => m.author),
          chat.client.connection.state === 'online',
        )
        for (const m of fresh) print(messageLine(session, handleOf, m))
      })
    })
    ready(channel.name)
    await stop
    unsubscribe()
    await printing
    await book.save()
  })
}
