// @hearth/sync/testing: contract suites and in-process helpers for tests of any package.
export { runStoreAdapterContract } from './store/store-adapter-contract.ts'
export type { StoreAdapterFixture } from './store/store-adapter-contract.ts'
export {
  craftByMutation,
  craftSignedChange,
  createPlainRepo,
  createValidatedPeer,
  entriesIn,
  makeTestEvent,
  readTestEvent,
  syncMessageWith,
  textsIn,
  until,
  verifyTestEvent,
} from './automerge/testing.ts'
export type { CraftedFields, ValidatedPeer } from './automerge/testing.ts'

// Space events without the honest client (any author, key, parents), simulated signatures,
// and the seeded convergence harness of the reducer.
export {
  createActors,
  hasSimulatedSignature,
  HARNESS_ACTOR_NAMES,
  simulatedSignature,
  SpaceBuilder,
} from './harness/space-builder.ts'
export type { DraftOptions, TestActor } from './harness/space-builder.ts'
export { eventSetForSeed, replayCommand, runSeed } from './harness/convergence.ts'
export type { HarnessOptions, SeedReport } from './harness/convergence.ts'
export { Prng } from './harness/prng.ts'
