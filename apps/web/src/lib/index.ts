import './csp.ts'
export { hearth, HearthSession } from './session/hearth-session.svelte.ts'
export type {
  Account,
  EnrolmentState,
  SessionStatus,
  ThisDevice,
} from './session/hearth-session.svelte.ts'
export { SignInError } from './auth/errors.ts'
export type { SignInFailure } from './auth/errors.ts'
export { hearthScope, keyserverAudience } from './auth/scopes.ts'
