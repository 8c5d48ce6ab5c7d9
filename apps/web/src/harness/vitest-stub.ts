// Stands in for vitest in the harness bundle (see vite.config.ts): never called.
const unused = (): never => {
  throw new Error('vitest is not available in the component harness')
}
export const describe = unused
export const it = unused
export const test = unused
export const expect = unused
export const beforeAll = unused
export const afterAll = unused
export const beforeEach = unused
export const afterEach = unused
export const vi = unused
