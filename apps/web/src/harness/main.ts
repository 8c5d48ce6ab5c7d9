// The component harness's entry: builds a scenario (?scenario=basic|corpus|big), and shows
// the chat shell with hash routes (#/spaces/<space>/<container>?thread=<id>).
import '../lib/csp.ts'
import { mount } from 'svelte'
import '../lib/styles/app.css'
import { Chat } from '../lib/spaces/chat.svelte.ts'
import Harness from './Harness.svelte'
import { basicScenario, bigScenario, corpusScenario } from './scenarios.ts'
import type { Scenario } from './scenarios.ts'

const MARKER = 'hearth-component-harness'

const params = new URLSearchParams(location.search)
const build: Record<string, () => Scenario> = {
  basic: basicScenario,
  corpus: corpusScenario,
  big: () => bigScenario(Number(params.get('count') ?? 100_000)),
}

try {
  const scenario = (build[params.get('scenario') ?? 'basic'] ?? basicScenario)()
  Object.assign(window, {
    __harness: {
      marker: MARKER,
      ids: scenario.ids,
      backend: scenario.backend,
      actors: scenario.actors ?? {},
    },
  })
  const chat = new Chat(scenario.backend, {
    storage: null,
    resolveHandle: async (handle) => {
      throw new Error(`No account found for @${handle}`)
    },
  })
  mount(Harness, { target: document.getElementById('app')!, props: { chat } })
  document.body.dataset.ready = 'true'
} catch (err) {
  document.body.dataset.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  throw err
}
