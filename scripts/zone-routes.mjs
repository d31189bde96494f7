// A zone's Cloudflare routes, for local runs: `wrangler dev` exposes one worker, so this one
// stands in front and sends each request where the routes of `scripts/groups.py routes` would
// send it on Cloudflare: to the worker of the most specific route that matches it (the longest:
// none of those routes begins with another), else to the gateway, whose route is everything. A
// pattern is matched against the path and query, as Cloudflare does. ROUTES: [[pattern, binding], ...].
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    const path = url.pathname + url.search;
    let best = null;
    for (const [pattern, binding] of JSON.parse(env.ROUTES)) {
      const matches = pattern.endsWith("*") ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
      if (matches && (best === null || pattern.length > best[0].length)) best = [pattern, binding];
    }
    return env[best === null ? "GATEWAY" : best[1]].fetch(request);
  },
};
