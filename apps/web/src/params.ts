import { defineParams } from '@sveltejs/kit/params'

// Space and container ids are event ids (52 base32 characters): anything else in the
// URL is a 404 before any code looks it up.
export const params = defineParams({
  eventid: (param) => (/^[a-z2-7]{52}$/.test(param) ? param : undefined),
})
