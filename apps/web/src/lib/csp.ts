// Zod 4 probes `new Function` (its JIT) the first time an object schema parses. Our CSP has
// no 'unsafe-eval', so the probe is refused and reported as a violation on every start;
// turning the JIT off skips the probe (parsing stays correct, only slower). Imported
// first by lib/index.ts and the component harness, before anything parses.
import { z } from 'zod'

z.config({ jitless: true })
