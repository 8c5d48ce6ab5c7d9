import { AtpAgent, type AtpSessionData } from '@atproto/api'
import { isDid, type Did } from '@hearth/identity'
import { z } from 'zod'
import { readState, writeState } from './home.ts'

const SESSION_FILE = 'session.json'

const sessionFile = z.object({
  did: z
    .string()
    .refine(isDid)
    .transform((s) => s as Did),
  handle: z.string(),
  pds: z.string().url(),
  tokens: z.looseObject({
    accessJwt: z.string(),
    refreshJwt: z.string(),
    handle: z.string(),
    did: z.string(),
    active: z.boolean(),
  }),
})
export type StoredSession = z.infer<typeof sessionFile>

export class NotLoggedInError extends Error {
  constructor() {
    super('not logged in: run `hearth login <handle> --password <app password>`')
    this.name = 'NotLoggedInError'
  }
}

export function readSession(home: string): Promise<StoredSession | null> {
  return readState(home, SESSION_FILE, sessionFile)
}

/** An agent whose refreshed tokens are written back to HEARTH_HOME as they change. */
export function persistentAgent(home: string, pds: string): AtpAgent {
  return new AtpAgent({
    service: pds,
    persistSession: async (_event, tokens?: AtpSessionData) => {
      if (!tokens) return
      await writeState(home, SESSION_FILE, { did: tokens.did, handle: tokens.handle, pds, tokens })
    },
  })
}

/** Resumes the stored session (refreshing tokens if needed). */
export async function resumeAgent(
  home: string,
): Promise<{ agent: AtpAgent; stored: StoredSession }> {
  const stored = await readSession(home)
  if (!stored) throw new NotLoggedInError()
  const agent = persistentAgent(home, stored.pds)
  await agent.resumeSession(stored.tokens as AtpSessionData)
  return { agent, stored }
}
