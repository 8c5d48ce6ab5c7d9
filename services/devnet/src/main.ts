#!/usr/bin/env node
// The local network alone (PLC, PDS, resolver, keyserver). `bash scripts/start.sh` runs it
// together with the web app through scripts/start.ts.
import { closeOnSignal, devnetBanner, startDevnetFromEnv } from './run.ts'

const devnet = await startDevnetFromEnv()
console.log(devnetBanner(devnet))
closeOnSignal(() => devnet.close())
