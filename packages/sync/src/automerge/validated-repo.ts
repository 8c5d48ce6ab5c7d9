import { Repo } from '@automerge/automerge-repo'
import type { NetworkAdapterInterface, RepoConfig } from '@automerge/automerge-repo'
import type { VerifyEvent } from './change-rules.ts'
import { ChangeValidator } from './change-validator.ts'
import type { AcceptedPayload } from './change-validator.ts'
import type { DocumentId } from '@automerge/automerge-repo'
import { verifyHearthEntry } from './entries.ts'
import { ValidatingNetworkAdapter } from './validating-adapter.ts'
import type { ValidatingAdapterOptions } from './validating-adapter.ts'

export interface ValidatedRepoOptions extends ValidatingAdapterOptions {
  /** Passed to the Repo; `network` adapters are wrapped before the Repo sees them. */
  repo?: RepoConfig
  verifyEvent?: VerifyEvent
  acceptDocument?: (documentId: DocumentId) => boolean
  maxMessageBytes?: number
  onAccepted?: (payload: AcceptedPayload) => void
}

export interface ValidatedRepo {
  repo: Repo
  validator: ChangeValidator
  /** Adds a network adapter behind the validator (per-adapter options override the shared ones). */
  addNetwork(
    adapter: NetworkAdapterInterface,
    options?: ValidatingAdapterOptions,
  ): ValidatingNetworkAdapter
}

/**
 * A Repo whose every network adapter sits behind one ChangeValidator: what clients and the
 * router run. Import documents with `importVerified`, write with `SignedWriter`.
 */
export function createValidatedRepo(options: ValidatedRepoOptions = {}): ValidatedRepo {
  const validator = new ChangeValidator({
    verifyEvent: options.verifyEvent ?? verifyHearthEntry,
    ...(options.acceptDocument ? { acceptDocument: options.acceptDocument } : {}),
    ...(options.maxMessageBytes ? { maxMessageBytes: options.maxMessageBytes } : {}),
    ...(options.onAccepted ? { onAccepted: options.onAccepted } : {}),
  })
  const shared: ValidatingAdapterOptions = {
    ...(options.onReject ? { onReject: options.onReject } : {}),
    ...(options.closePeer ? { closePeer: options.closePeer } : {}),
    ...(options.resetPeer ? { resetPeer: options.resetPeer } : {}),
    ...(options.retryDelayMs ? { retryDelayMs: options.retryDelayMs } : {}),
  }
  const wrap = (adapter: NetworkAdapterInterface, own: ValidatingAdapterOptions = {}) =>
    new ValidatingNetworkAdapter(adapter, validator, { ...shared, ...own })
  const { network = [], ...rest } = options.repo ?? {}
  const repo = new Repo({ ...rest, network: network.map((adapter) => wrap(adapter)) })
  validator.attach(repo)
  return {
    repo,
    validator,
    addNetwork(adapter, own) {
      const wrapped = wrap(adapter, own)
      repo.networkSubsystem.addNetworkAdapter(wrapped)
      return wrapped
    },
  }
}
