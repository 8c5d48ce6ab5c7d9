// @hearth/sync/node: the parts that need Node (files). Browsers use IndexedDB instead.
export { FileStoreAdapter } from './store/file-store-adapter.ts'
