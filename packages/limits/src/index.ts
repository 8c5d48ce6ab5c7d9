// @hearth/limits: bounded rate limiting shared by the services. No dependencies, no I/O.
export { BoundedCache, TokenBuckets } from './token-buckets.ts'
export type { BucketConfig, TakeResult, TokenBucketsOptions } from './token-buckets.ts'
