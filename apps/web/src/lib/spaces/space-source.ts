// What the UI needs from an open space. `SpaceSession` from @hearth/sync satisfies it as is;
// tests and the component harness give a reducer-backed stand-in (src/lib/testing).

import type { Did } from '@hearth/identity'
import type {
  Delivery,
  EventBody,
  EventId,
  MessageView,
  Role,
  SpaceId,
  SpaceState,
} from '@hearth/sync'

export interface SpaceSource {
  readonly spaceId: SpaceId
  readonly state: SpaceState
  subscribe(listener: (state: SpaceState) => void): () => void
  /** The messages of a channel, thread or page, in canonical order (oldest first). */
  timeline(containerId: EventId): readonly MessageView[]
  delivery(eventId: EventId): Delivery
  send(containerId: EventId, text: string, opts?: { replyTo?: EventId }): Promise<EventId>
  edit(target: EventId, text: string): Promise<EventId>
  redact(target: EventId, reason?: string): Promise<EventId>
  react(target: EventId, emoji: string): Promise<EventId>
  unreact(target: EventId, emoji: string): Promise<EventId>
  createChannel(name: string, topic?: string): Promise<EventId>
  renameChannel(channel: EventId, name: string): Promise<EventId>
  archiveChannel(channel: EventId, archived: boolean): Promise<EventId>
  createThread(channel: EventId, title: string, root?: EventId): Promise<EventId>
  invite(invitee: Did, keys?: string[]): Promise<EventId>
  join(): Promise<EventId>
  leave(): Promise<EventId>
  propose(action: 'ban' | 'unban' | 'role', target: Did, role?: Role): Promise<EventId>
  vote(proposal: EventId): Promise<EventId>
  setProfile(profile: EventBody<'space.profile'>): Promise<EventId>
}

/** Read positions synced across the user's devices (HearthClient's user document). */
export interface ReadPositions {
  readPosition(space: SpaceId, container: EventId): EventId | undefined
  markRead(space: SpaceId, container: EventId, event: EventId): Promise<void>
  subscribe(listener: () => void): () => void
}

/** The signed-in device's client, as the UI uses it. `HearthClient` satisfies it. */
export interface SpacesBackend {
  readonly did: Did
  /** Where read positions live on all of the user's devices; absent: this browser only. */
  readonly user?: ReadPositions
  readonly connection: {
    readonly state: 'offline' | 'connecting' | 'online'
    subscribe(listener: (state: 'offline' | 'connecting' | 'online') => void): () => void
  }
  spaces(): readonly { spaceId: SpaceId; name: string | null }[]
  subscribeSpaces(
    listener: (spaces: readonly { spaceId: SpaceId; name: string | null }[]) => void,
  ): () => void
  createSpace(options: {
    name: string
    mode: 'PUBLIC' | 'INVITES_ONLY' | 'ADMIN_INVITES_ONLY'
  }): Promise<SpaceSource>
  openSpace(spaceId: SpaceId): Promise<SpaceSource>
  joinSpace(spaceId: SpaceId): Promise<SpaceSource>
  close(): Promise<void>
}
