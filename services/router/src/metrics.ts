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
      help: 'Document frames received (sync, request, doc-unavailable, hearth-changes), by type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    frameSeconds: new Histogram({
      name: 'hearth_router_frame_seconds',
      help: 'Time from receiving a document frame to handing it on (rate-limit wait, access, load)',
      labelNames: ['type'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    ephemeralRelayed: new Counter({
      name: 'hearth_router_ephemeral_delivered_total',
      help: 'Signed ephemeral frames delivered (one per receiving session)',
      registers: [registry],
    }),
    ephemeralDropped: new Counter({
      name: 'hearth_router_ephemeral_dropped_total',
      help: 'Signed ephemeral frames dropped, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    ephemeralSeconds: new Histogram({
      name: 'hearth_router_ephemeral_seconds',
      help: 'Time from receiving an ephemeral frame to relaying it (signature check included)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
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
