#!/usr/bin/env node
// Prints the production client-metadata.json for a deployment:
//   node apps/web/scripts/client-metadata.ts https://hearth.example did:web:keys.hearth.example [did:web:router.hearth.example] > build/client-metadata.json
import { clientMetadata } from '../src/lib/auth/client-metadata.ts'

const [origin, keyserverDid, routerDid] = process.argv.slice(2)
if (!origin || !keyserverDid) {
  console.error('usage: client-metadata.ts <https app origin> <keyserver did:web> [router did:web]')
  process.exit(2)
}
console.log(
  JSON.stringify(
    clientMetadata({ origin, keyserverDid, ...(routerDid && { routerDid }) }),
    null,
    2,
  ),
)
