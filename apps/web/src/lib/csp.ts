// Zod 4 probes `new Function` (its JIT) the first time an object schema parses. Our CSP has
// no 'unsafe-eval', so the probe is refused and reported as a violation on every start;
// turning the JIT off skips the probe (parsing stays correct, only slower). Imported
// first by lib/index.ts and the component harness, before anything parses.
// zod/v4/core holds the one global config every zod schema reads (and is small to load).
import { config } from 'zod/v4/core'

config({ jitless: true })
