// A static single-page app: no server rendering, no prerendering; the adapter's
// 200.html fallback boots every route in the browser.
export const ssr = false
export const prerender = false
