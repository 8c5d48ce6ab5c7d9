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
