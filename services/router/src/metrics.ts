import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The router's Prometheus metrics, on a registry of its own (several routers per process in tests). */
export function createRouterMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'hearth_router_' })
  return {
    registry,
    connections: new Gauge({
      name: 'hearth_router_connections',
      help: 'Open sync WebSockets',
      registers: [registry],
    }),
    tickets: new Counter({
      name: 'hearth_router_tickets_total',
      help: 'Tickets issued',
      registers: [registry],
    }),
    rejections: new Counter({
      name: 'hearth_router_rejections_total',
      help: 'Refused requests, connections and frames, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    messages: new Counter({
      name: 'hearth_router_messages_total',
      help: 'Sync frames received',
      registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'hearth_router_delivery_seconds',
      help: 'Time from receiving a change to handing it to the last subscriber',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  }
}
export type RouterMetrics = ReturnType<typeof createRouterMetrics>
