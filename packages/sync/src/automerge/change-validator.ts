import * as A from '@automerge/automerge'
import type { DocHandle, DocumentId, Repo } from '@automerge/automerge-repo'
import { ChangeRejectedError, validateChanges } from './change-rules.ts'
import type { ValidatedChanges, VerifyEvent } from './change-rules.ts'
import { changesInBlob, changesInDocument, MalformedChunkError } from './chunks.ts'
import { DocumentState } from './document-state.ts'
import type { AcceptedChange } from './document-state.ts'
import { MAX_SYNC_MESSAGE_BYTES } from './layout.ts'

export interface ChangeValidatorOptions {
  verifyEvent: VerifyEvent
  /** Documents this peer accepts at all (e.g. those of its spaces' registries). Default: all. */
  acceptDocument?: (documentId: DocumentId) => boolean
  maxMessageBytes?: number
  /** Called with changes that passed, just before they reach the Repo. */
  onAccepted?: (payload: AcceptedPayload) => void
}

export interface AcceptedPayload {
  documentId: DocumentId
  changes: AcceptedChange[]
  /** The events' wire bytes, per change: the fast path to the reducer. */
  events: Uint8Array[][]
}

/** Thrown for a whole message or document that must not reach the Repo. */
export class MessageRejectedError extends ChangeRejectedError {
  constructor(reason: string) {
    super('invalid', reason)
    this.name = 'MessageRejectedError'
  }
}

/**
 * The checks every incoming Automerge byte goes through before a Repo applies it, shared by
 * all network adapters of one Repo (per-document state is shared, so two peers racing the
 * same or conflicting changes are seen as such) and by `importVerified`.
 * It judges structure and signatures only, never membership (the reducer does that on
 * what is stored: refusing a change some peers accepted would split replicas forever).
 */
export class ChangeValidator {
  readonly #verifyEvent: VerifyEvent
  readonly #acceptDocument: (documentId: DocumentId) => boolean
  readonly maxMessageBytes: number
  readonly #onAccepted: ((payload: AcceptedPayload) => void) | undefined
  readonly #states = new Map<DocumentId, DocumentState>()
  #getDocument: (documentId: DocumentId) => A.Doc<unknown> | undefined = () => undefined
  #loadDocument: (documentId: DocumentId) => Promise<A.Doc<unknown> | undefined> = async () =>
    undefined
  // Documents read from storage for a message that arrived before the Repo loaded them.
  readonly #stored = new Map<DocumentId, A.Doc<unknown>>()
  // One validation at a time per document: the structure a message is checked against must
  // include the changes accepted just before it.
  readonly #locks = new Map<DocumentId, Promise<unknown>>()

  constructor(options: ChangeValidatorOptions) {
    this.#onAccepted = options.onAccepted
    this.#verifyEvent = options.verifyEvent
    this.#acceptDocument = options.acceptDocument ?? (() => true)
    this.maxMessageBytes = options.maxMessageBytes ?? MAX_SYNC_MESSAGE_BYTES
  }

  /** Reads documents from the Repo the validator guards (call once, right after creating it). */
  attach(repo: Repo): void {
    this.attachDocuments(
      (documentId) => {
        const handle = repo.handles[documentId] as DocHandle<unknown> | undefined
        return handle?.isReady() ? handle.doc() : undefined
      },
      // A message can arrive for a document the Repo has not loaded yet (a router, a client
      // reopening): validate against what storage holds, or every change that builds on it
      // would look like a missing dependency, and the Repo would never load it.
      async (documentId) => {
        const handle = repo.handles[documentId] as DocHandle<unknown> | undefined
        if (handle && !handle.isReady()) {
          await handle
            .whenReady(['ready', 'unavailable', 'requesting', 'deleted', 'unloaded'])
            .catch(() => undefined)
          if (handle.isReady()) return handle.doc()
        }
        const binary = await repo.storageSubsystem?.loadDocData(documentId)
        return binary ? A.loadIncremental(A.init<unknown>(), binary) : undefined
      },
    )
  }

  /** Reads documents from elsewhere (a router's own storage, a benchmark's bare documents). */
  attachDocuments(
    getDocument: (documentId: DocumentId) => A.Doc<unknown> | undefined,
    loadDocument?: (documentId: DocumentId) => Promise<A.Doc<unknown> | undefined>,
  ): void {
    this.#getDocument = getDocument
    if (loadDocument) this.#loadDocument = loadDocument
  }

  #current(documentId: DocumentId): A.Doc<unknown> | undefined {
    const live = this.#getDocument(documentId)
    if (live) {
      this.#stored.delete(documentId)
      return live
    }
    return this.#stored.get(documentId)
  }

  #state(documentId: DocumentId): DocumentState {
    let state = this.#states.get(documentId)
    if (!state) {
      state = new DocumentState(() => this.#current(documentId))
      this.#states.set(documentId, state)
    }
    return state
  }

  #exclusive<T>(documentId: DocumentId, run: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(documentId) ?? Promise.resolve()
    const next = previous.then(run, run)
    const settled = next.catch(() => undefined)
    this.#locks.set(documentId, settled)
    void settled.then(() => {
      if (this.#locks.get(documentId) === settled) this.#locks.delete(documentId)
    })
    return next
  }

  async #validate(
    documentId: DocumentId,
    collect: () => ReturnType<typeof changesInBlob>,
  ): Promise<ValidatedChanges> {
    if (!this.#acceptDocument(documentId))
      throw new MessageRejectedError('document not accepted here')
    return this.#exclusive(documentId, async () => {
      if (!this.#current(documentId)) {
        const stored = await this.#loadDocument(documentId)
        if (stored && !this.#getDocument(documentId)) this.#stored.set(documentId, stored)
      }
      let incoming
      try {
        incoming = collect()
      } catch (error) {
        if (error instanceof ChangeRejectedError) throw error
        throw new MessageRejectedError(
          error instanceof MalformedChunkError
            ? error.message
            : `undecodable: ${String(error).slice(0, 200)}`,
        )
      }
      const state = this.#state(documentId)
      const batch = state.beginBatch()
      const result = await validateChanges(batch, incoming, this.#verifyEvent)
      state.commit(result.accepted)
      if (result.accepted.length > 0)
        this.#onAccepted?.({ documentId, changes: result.accepted, events: result.events })
      return result
    })
  }

  /** Validates the data of a `sync` or `request` message. Throws ChangeRejectedError. */
  validateSyncMessage(documentId: DocumentId, data: Uint8Array): Promise<ValidatedChanges> {
    if (data.byteLength > this.maxMessageBytes)
      return Promise.reject(
        new MessageRejectedError(
          `sync message of ${data.byteLength} bytes exceeds ${this.maxMessageBytes}`,
        ),
      )
    return this.#validate(documentId, () => {
      const message = A.decodeSyncMessage(data)
      return message.changes.flatMap((blob) => changesInBlob(blob))
    })
  }

  /** Validates a saved document (or incremental save) before it is imported. */
  validateDocument(documentId: DocumentId, bytes: Uint8Array): Promise<ValidatedChanges> {
    if (bytes.byteLength > this.maxMessageBytes)
      return Promise.reject(
        new MessageRejectedError(
          `document of ${bytes.byteLength} bytes exceeds ${this.maxMessageBytes}`,
        ),
      )
    return this.#validate(documentId, () => changesInDocument(bytes))
  }

  /**
   * Drops what the validator keeps for a document (a router unloading it). The next message
   * for it rebuilds the state from the Repo's document.
   */
  release(documentId: DocumentId): void {
    this.#states.delete(documentId)
    this.#stored.delete(documentId)
  }

  /** Local signed writes bypass validation; the state must still know them. */
  noteLocalWrite(documentId: DocumentId, accepted: AcceptedChange): void {
    this.#state(documentId).commit([accepted])
  }
}

/**
 * `repo.import()` guarded by the validator: the bytes are checked against what the Repo
 * already holds for `documentId`, then merged into it. Throws ChangeRejectedError.
 */
export async function importVerified<T = unknown>(
  repo: Repo,
  validator: ChangeValidator,
  documentId: DocumentId,
  bytes: Uint8Array,
): Promise<DocHandle<T>> {
  const existing = repo.handles[documentId] as DocHandle<T> | undefined
  if (existing && !existing.isReady())
    await existing.whenReady(['ready', 'unavailable', 'requesting', 'deleted'])
  await validator.validateDocument(documentId, bytes)
  return repo.import<T>(bytes, { docId: documentId })
}
