// The signed-in state of the app: config → OAuth session → this device's key. Routes
// read it and call its methods; nothing else talks to the OAuth client.

import type { BrowserOAuthClient, OAuthSession } from '@atproto/oauth-client-browser'
import { asDid, asHandle, fingerprint, isDid, isHandle } from '@hearth/identity'
import type { Did } from '@hearth/identity'
import { classifyAuthorizeError, classifyCallbackError, SignInError } from '../auth/errors.ts'
import { createOAuthClient } from '../auth/oauth-client.ts'
import { hearthScope } from '../auth/scopes.ts'
import { loadAppConfig } from '../config/app-config.ts'
import type { AppConfig } from '../config/app-config.ts'
import {
  bindingStatus,
  describeDevice,
  enrolDevice,
  EnrolmentError,
  ensureDeviceKey,
  forgetDevice,
} from '../device/enrol.ts'
import type { EnrolDeps, EnrolledDevice, EnrolStep } from '../device/enrol.ts'
import { deleteDeviceKey } from '../device/key-store.ts'
import type { Chat } from '../spaces/chat.svelte.ts'
import { eraseSpacesData } from './spaces-storage.ts'

export type SessionStatus =
  'starting' | 'signed-out' | 'redirecting' | 'signed-in' | 'signing-out' | 'broken'

export interface Account {
  did: Did
  /** Verified both ways (handle → DID and DID document → handle), or null if it does not check out. */
  handle: string | null
}

export interface ThisDevice {
  keyId: string
  deviceId: string
  fingerprint: string
}

export type EnrolmentState =
  | { state: 'idle' }
  | { state: 'working'; step: EnrolStep }
  | { state: 'done' }
  | { state: 'failed'; message: string }

// The last verified handle per DID, so the signed-in page can show it before (or
// without) the network.
const HANDLE_CACHE_KEY = 'hearth:handle:'

export class HearthSession {
  status = $state<SessionStatus>('starting')
  account = $state<Account | null>(null)
  device = $state<ThisDevice | null>(null)
  enrolment = $state<EnrolmentState>({ state: 'idle' })
  /** The last sign-in problem, shown on the sign-in page. */
  error = $state<SignInError | null>(null)
  /** A problem that stops the app from starting at all (e.g. no config.json). */
  fatal = $state<string | null>(null)
  /** The user's spaces on this device, once its key is loaded (null before, or if storage failed). */
  chat = $state<Chat | null>(null)
  /** Why the spaces could not be opened on this device. */
  spacesError = $state<string | null>(null)

  #config: AppConfig | null = null
  #client: BrowserOAuthClient | null = null
  #session: OAuthSession | null = null
  #started: Promise<void> | null = null
  #spaces: { did: Did; close: () => Promise<void> } | null = null

  /** Loads config, finishes an OAuth redirect if there is one, else restores the last session. */
  start(): Promise<void> {
    this.#started ??= this.#start()
    return this.#started
  }

  async #start(): Promise<void> {
    try {
      this.#config = await loadAppConfig()
      this.#client = await createOAuthClient(this.#config, location.origin, {
        onSessionDeleted: (sub) => this.#sessionEnded(sub),
      })
    } catch (err) {
      this.fatal = err instanceof Error ? err.message : String(err)
      this.status = 'broken'
      return
    }
    let session: OAuthSession | undefined
    if (this.#client.readCallbackParams()) {
      // Back from the PDS: finish the code exchange (or learn why there is no code).
      try {
        session = (await this.#client.init())?.session
      } catch (err) {
        this.error = classifyCallbackError(err)
      }
    } else {
      // Restore without refreshing: a stored session opens the app with no network
      // (local-first); tokens are refreshed on the first request that needs them.
      try {
        session = (await this.#client.initRestore(false))?.session
      } catch {
        this.error = new SignInError(
          'session-ended',
          'Your session has ended. Please sign in again.',
        )
      }
    }
    if (!session) {
      this.status = 'signed-out'
      return
    }
    addEventListener('online', () => void this.#reconnected())
    await this.#signedIn(session)
  }

  async #reconnected(): Promise<void> {
    const did = this.account?.did
    if (this.status !== 'signed-in' || !did) return
    await Promise.all([
      this.#refreshHandle(did),
      this.enrolment.state === 'failed' ? this.enrol() : Promise.resolve(),
    ])
  }

  /** The OAuth client dropped the session: revoked, unrefreshable, or signed out elsewhere. */
  #sessionEnded(sub: string): void {
    if (this.#session?.did !== sub || this.status === 'signing-out') return
    this.#clear()
    this.error = new SignInError(
      'session-ended',
      'You were signed out (in another tab, or your server ended the session). Please sign in again.',
    )
  }

  /**
   * The binding record is gone: the account no longer trusts this key. Erase it and end
   * this session too; signing in again (with the password, on the PDS) sets up a new key.
   */
  async #deviceRemoved(): Promise<void> {
    const client = this.#client
    const session = this.#session
    if (!client || !session) return
    this.status = 'signing-out'
    await deleteDeviceKey(asDid(session.did))
    await this.#closeSpaces()
    await eraseSpacesData(asDid(session.did))
    try {
      await client.revoke(session.did)
    } catch {
      // The local session is deleted regardless.
    }
    localStorage.removeItem(HANDLE_CACHE_KEY + session.did)
    this.#clear()
    this.error = new SignInError(
      'device-removed',
      'This device was removed from your account, so it has been signed out. Sign in again to set it up as a new device.',
    )
  }

  #clear(): void {
    void this.#closeSpaces()
    this.#session = null
    this.account = null
    this.device = null
    this.enrolment = { state: 'idle' }
    this.status = 'signed-out'
  }

  async #signedIn(session: OAuthSession): Promise<void> {
    this.#session = session
    const did = asDid(session.did)
    this.account = { did, handle: localStorage.getItem(HANDLE_CACHE_KEY + did) }
    this.error = null
    this.status = 'signed-in'
    await Promise.all([this.#refreshHandle(did), this.enrol()])
  }

  async #refreshHandle(did: Did): Promise<void> {
    const client = this.#client
    if (!client) return
    try {
      const info = await client.oauthResolver.resolveIdentity(did)
      const handle = isHandle(info.handle) ? asHandle(info.handle) : null
      if (handle) localStorage.setItem(HANDLE_CACHE_KEY + did, handle)
      else localStorage.removeItem(HANDLE_CACHE_KEY + did)
      if (this.account?.did === did) this.account = { did, handle }
    } catch {
      // Offline or resolver down: keep showing the cached handle.
    }
  }

  #enrolDeps(): EnrolDeps | null {
    const config = this.#config
    const session = this.#session
    if (!config || !session) return null
    return {
      did: asDid(session.did),
      pds: (pathname, init) => session.fetchHandler(pathname, init),
      keyserverUrl: config.keyserverUrl,
      keyserverDid: config.keyserverDid,
      deviceName: describeDevice(navigator.userAgent),
    }
  }

  /** Makes and registers this device's key if that has not been completed yet. */
  async enrol(): Promise<void> {
    const deps = this.#enrolDeps()
    if (!deps) return
    try {
      this.enrolment = { state: 'working', step: 'key' }
      const device = await ensureDeviceKey(deps.did)
      // The fingerprint is known as soon as the key exists; publishing it can lag (offline).
      this.device = {
        keyId: device.key.keyId,
        deviceId: device.key.deviceId,
        fingerprint: fingerprint(deps.did, device.key.keyId),
      }
      // A device that was fully set up must still be bound: if the user removed it from
      // another device, it must not quietly re-bind itself here.
      if (device.stored.published && navigator.onLine) {
        if ((await bindingStatus(deps, device.key)) === 'absent') {
          await this.#deviceRemoved()
          return
        }
      }
      // Spaces work from here on, offline too: the key signs, the in-space binding
      // (genesis or join) names it; publishing it in the PDS can finish later.
      void this.#openSpaces(deps, device.key)
      await enrolDevice(deps, device, (step) => {
        this.enrolment = { state: 'working', step }
      })
      this.enrolment = { state: 'done' }
    } catch (err) {
      const message =
        err instanceof EnrolmentError
          ? `${err.message}: ${describeCause(err.cause)}`
          : describeCause(err)
      this.enrolment = { state: 'failed', message }
    }
  }

  async #openSpaces(deps: EnrolDeps, key: EnrolledDevice['key']): Promise<void> {
    const config = this.#config
    if (!config || this.#spaces?.did === deps.did) return
    await this.#closeSpaces()
    const placeholder = { did: deps.did, close: async () => undefined }
    this.#spaces = placeholder
    try {
      // Loaded on demand: the sync client brings Automerge's wasm, which the shell
      // (sign-in, account, the chat's frame) must not wait for.
      const { openSpacesClient } = await import('./spaces-client.ts')
      const opened = await openSpacesClient({ did: deps.did, key, config, pds: deps.pds })
      if (this.#spaces !== placeholder) {
        await opened.close()
        return
      }
      this.#spaces = { did: deps.did, close: opened.close }
      this.chat = opened.chat
      this.spacesError = null
    } catch (err) {
      if (this.#spaces === placeholder) this.#spaces = null
      this.spacesError = describeCause(err)
    }
  }

  async #closeSpaces(): Promise<void> {
    const spaces = this.#spaces
    this.#spaces = null
    this.chat = null
    await spaces?.close().catch(() => undefined)
  }

  /** Starts OAuth: resolves the handle, then leaves the page for the PDS's sign-in page. */
  async signIn(input: string): Promise<void> {
    const client = this.#client
    const config = this.#config
    if (!client || !config) return
    const trimmed = input.trim().replace(/^@/, '')
    // A DID works too (it skips handle resolution); handles are case-insensitive.
    const identifier = isDid(trimmed) ? trimmed : trimmed.toLowerCase()
    this.error = null
    if (!isDid(identifier) && !isHandle(identifier)) {
      this.error = new SignInError(
        'invalid-handle',
        `"${input.trim()}" is not a valid handle (it looks like name.example.com).`,
      )
      return
    }
    this.status = 'redirecting'
    try {
      await client.signInRedirect(identifier, {
        scope: hearthScope(config.keyserverDid, config.routerDid),
      })
    } catch (err) {
      this.error = classifyAuthorizeError(err, identifier)
      this.status = 'signed-out'
    }
  }

  /**
   * Ends the OAuth session (the PDS revokes its tokens). By default the device key is
   * kept: it is non-extractable, still bound to the account, and signing in again
   * reuses it, so contacts do not see a key change. `forget` first unregisters the key
   * and deletes its binding record, then erases it and this browser's copy of the spaces —
   * for a shared or lost-trust device.
   */
  async signOut(options: { forget?: boolean } = {}): Promise<void> {
    const client = this.#client
    const session = this.#session
    if (!client || !session) return
    this.status = 'signing-out'
    if (options.forget) {
      const deps = this.#enrolDeps()
      try {
        if (deps) await forgetDevice(deps)
        // A device removed from the account keeps none of its spaces either.
        await this.#closeSpaces()
        await eraseSpacesData(asDid(session.did))
      } catch (err) {
        this.enrolment = {
          state: 'failed',
          message: `Could not remove this device: ${describeCause(err)}`,
        }
        this.status = 'signed-in'
        return
      }
    }
    try {
      await client.revoke(session.did)
    } catch {
      // Revocation is best effort when offline; the local session is deleted regardless.
    }
    localStorage.removeItem(HANDLE_CACHE_KEY + session.did)
    this.#clear()
  }
}

function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const inner = err.cause instanceof Error ? ` (${err.cause.message})` : ''
  return `${err.message}${inner}`
}

export const hearth = new HearthSession()
