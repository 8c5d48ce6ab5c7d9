// Where things are, as the chat components see it: hrefs and a way to go there. The app
// builds it from Kit's router (src/routes); the component harness from its own.

import type { EventId, SpaceId } from '@hearth/sync'

export interface ChatRoute {
  spaceId: SpaceId | null
  containerId: EventId | null
  /** A thread open in the side pane. */
  threadId: EventId | null
}

export interface ChatNav {
  home(): string
  space(spaceId: SpaceId): string
  container(spaceId: SpaceId, containerId: EventId, threadId?: EventId | null): string
  go(href: string): void | Promise<void>
}
