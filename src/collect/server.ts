// The web page and JSON API (Bun.serve). Read-only: GET and HEAD only, bounded
// request sizes, an optional bearer token, and a Content-Security-Policy that
// allows no script at all (the pages need none).
import { timingSafeEqual } from "node:crypto";
import type { Server } from "bun";
import type { Store } from "./store.ts";
import { devicePage, devicesPage, errorPage, groupPage, groupsPage, versionsPage } from "./pages.ts";
import { deviceDetail, groupDetail, health, historyDays, listDevices, listGroups, listVersions } from "./views.ts";

/** Largest request body accepted: the API takes none. */
const MAX_REQUEST_BODY_BYTES = 1024;
/** Longest URL accepted (path and query). */
const MAX_URL_CHARS = 2048;
/** Cookie that carries the token for the pages once given as ?token=. */
const TOKEN_COOKIE = "crashkeep_token";

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export interface ServeOptions {
  hostname: string;
  port: number;
  /** Required as a bearer token, a cookie or ?token= when set. */
  token: string | undefined;
  /** This process's own counts (several collectors share one database), shown by /api/health. */
  stats?: () => Record<string, number>;
}

function json(data: unknown, status = 200): Response {
  return new Response(JSON.stringify(data), { status, headers: { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8" } });
}

function page(body: string, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { ...SECURITY_HEADERS, ...extra, "content-type": "text/html; charset=utf-8" } });
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function presented(req: Request, url: URL): { token: string | undefined; fromQuery: boolean } {
  const auth = req.headers.get("authorization");
  if (auth?.startsWith("Bearer ")) return { token: auth.slice(7).trim(), fromQuery: false };
  const q = url.searchParams.get("token");
  if (q !== null) return { token: q, fromQuery: true };
  const cookie = req.headers.get("cookie") ?? "";
  const m = new RegExp(`(?:^|;\\s*)${TOKEN_COOKIE}=([^;]*)`).exec(cookie);
  return { token: m?.[1] !== undefined ? decodeURIComponent(m[1]) : undefined, fromQuery: false };
}

/** One path segment after a prefix, decoded; undefined when the path is not exactly that. */
function param(path: string, prefix: string): string | undefined {
  if (!path.startsWith(prefix)) return undefined;
  const rest = path.slice(prefix.length);
  if (rest === "" || rest.includes("/")) return undefined;
  try {
    return decodeURIComponent(rest);
  } catch {
    return undefined;
  }
}

export async function handle(store: Store, req: Request, token: string | undefined, stats?: () => Record<string, number>): Promise<Response> {
  if (req.url.length > MAX_URL_CHARS) return json({ error: "URL too long" }, 414);
  if (req.method !== "GET" && req.method !== "HEAD") return json({ error: "only GET" }, 405);
  const url = new URL(req.url);
  const path = url.pathname;
  const api = path.startsWith("/api/");
  let setCookie: Record<string, string> = {};
  if (token !== undefined) {
    const p = presented(req, url);
    if (p.token === undefined || !same(p.token, token)) return api ? json({ error: "token required" }, 401) : page(errorPage(401, "A token is required: open this page with ?token=..."), 401);
    if (p.fromQuery) setCookie = { "set-cookie": `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict` };
  }
  if (path === "/api/health") return json({ ...(await health(store)), ...(stats ? { collector: stats() } : {}) });
  if (path === "/api/groups") return json((await listGroups(store)).map(({ daily: _d, ...g }) => g));
  if (path === "/api/versions") return json((await listVersions(store)).map(({ daily: _d, ...v }) => v));
  if (path === "/api/devices") return json(await listDevices(store));
  let id = param(path, "/api/groups/");
  if (id !== undefined) {
    const g = await groupDetail(store, id);
    return g ? json(g) : json({ error: "no such group" }, 404);
  }
  id = param(path, "/api/devices/");
  if (id !== undefined) {
    const d = await deviceDetail(store, id);
    return d ? json(d) : json({ error: "no such device" }, 404);
  }
  if (api) return json({ error: "not found" }, 404);
  if (path === "/" || path === "/groups") return page(groupsPage(await listGroups(store)), 200, setCookie);
  if (path === "/versions") return page(versionsPage(await listVersions(store), historyDays()), 200, setCookie);
  if (path === "/devices") return page(devicesPage(await listDevices(store)), 200, setCookie);
  id = param(path, "/groups/");
  if (id !== undefined) {
    const g = await groupDetail(store, id);
    return g ? page(groupPage(g), 200, setCookie) : page(errorPage(404, "No such crash group"), 404);
  }
  id = param(path, "/devices/");
  if (id !== undefined) {
    const d = await deviceDetail(store, id);
    return d ? page(devicePage(d), 200, setCookie) : page(errorPage(404, "No such device"), 404);
  }
  return page(errorPage(404, "Not found"), 404);
}

export function serve(store: Store, options: ServeOptions): Server<undefined> {
  return Bun.serve({
    hostname: options.hostname,
    port: options.port,
    maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
    fetch: async (req) => {
      try {
        return await handle(store, req, options.token, options.stats);
      } catch (err) {
        return json({ error: `Cannot answer: ${err instanceof Error ? err.message : String(err)}` }, 500);
      }
    },
  });
}
