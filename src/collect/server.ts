// The web page and JSON API (Bun.serve). Read-only: GET and HEAD only, bounded
// request sizes, an optional bearer token, and a Content-Security-Policy that
// allows no script at all (the pages need none). Requests must name this
// server in their Host header (an IP address, localhost or a --host-name):
// a page of another site whose name was re-pointed at this address (DNS
// rebinding) is refused with 421, with or without a token. Every list is
// paged (?offset=&limit=; the API answers one page as a JSON array and links
// the next and previous pages in a Link header, RFC 8288).
import { timingSafeEqual } from "node:crypto";
import type { Server } from "bun";
import type { Store } from "./store.ts";
import { devicePage, devicesPage, errorPage, groupPage, groupsPage, pageLink, rollbacksLink, rollbacksPage, versionsPage } from "./pages.ts";
import {
  DEVICE_BOOTS,
  deviceDetail,
  FIRST_PAGE,
  GROUP_REPORTS,
  groupDetail,
  health,
  historyDays,
  pageOfDevices,
  pageOfGroups,
  pageOfRollbacks,
  pageOfVersions,
  storedMessage,
  MAX_PAGE_ITEMS,
  ROLLBACKS_PAGE_ITEMS,
  type Page,
  type Paged,
  type RollbackFilter,
} from "./views.ts";

/** Largest request body accepted: the API takes none. */
export const MAX_REQUEST_BODY_BYTES = 1024;
/** Longest URL accepted (path and query). */
const MAX_URL_CHARS = 2048;
/** Largest ?offset= accepted: deeper pages cost the database a scan of everything before them. */
const MAX_OFFSET = 10_000_000;
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
  /** Names (besides IP addresses, localhost and the listen address) a request's Host may give: the names a reverse proxy or the users reach this server by. */
  hostNames?: readonly string[];
  /** This process's own counts (several collectors share one database), shown by /api/health. */
  stats?: () => Record<string, number>;
}

function json(data: unknown, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(data), { status, headers: { ...SECURITY_HEADERS, ...extra, "content-type": "application/json; charset=utf-8" } });
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
  if (m?.[1] === undefined) return { token: undefined, fromQuery: false };
  try {
    return { token: decodeURIComponent(m[1]), fromQuery: false };
  } catch {
    // a malformed cookie ("%E0%A4%A") is no token: 401, as any wrong one
    return { token: undefined, fromQuery: false };
  }
}

/** ?offset= and ?limit= (at most MAX_LIMIT, the default), or the problem with them. */
function pageOf(url: URL, maxLimit: number): Page | string {
  const read = (name: string, fallback: number, max: number): number | string => {
    const v = url.searchParams.get(name);
    if (v === null) return fallback;
    if (!/^\d{1,9}$/.test(v) || Number(v) > max) return `Cannot use ${name} "${v.slice(0, 32)}": a whole number from 0 to ${max}`;
    return Number(v);
  };
  const offset = read("offset", 0, MAX_OFFSET);
  const limit = read("limit", maxLimit, maxLimit);
  if (typeof offset === "string") return offset;
  if (typeof limit === "string") return limit;
  if (limit === 0) return `Cannot use limit "0": a whole number from 1 to ${maxLimit}`;
  return { offset, limit };
}

/** The Link header (RFC 8288) of one page: rel="next" when another follows, rel="prev" when one precedes. */
function links(path: string, p: { offset: number; limit: number; more: boolean }, maxLimit: number): Record<string, string> {
  const out: string[] = [];
  if (p.more) out.push(`<${pageLink(path, { offset: p.offset + p.limit, limit: p.limit }, maxLimit)}>; rel="next"`);
  if (p.offset > 0) out.push(`<${pageLink(path, { offset: Math.max(0, p.offset - p.limit), limit: p.limit }, maxLimit)}>; rel="prev"`);
  return out.length > 0 ? { link: out.join(", ") } : {};
}

function pagedJson<T>(path: string, p: Paged<T>, maxLimit: number): Response {
  return json(p.items, 200, links(path, p, maxLimit));
}

/** ?device= and ?firmware= of a rollback list (each compared as text: no pattern, nothing else read from them). */
function rollbackFilter(url: URL): RollbackFilter {
  const device = url.searchParams.get("device");
  const firmware = url.searchParams.get("firmware");
  return { ...(device !== null ? { device } : {}), ...(firmware !== null ? { firmware } : {}) };
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
  const list = pageOf(url, MAX_PAGE_ITEMS);
  const paging = (max: number): Page | Response => {
    const p = pageOf(url, max);
    return typeof p === "string" ? (api ? json({ error: p }, 400) : page(errorPage(400, p), 400)) : p;
  };
  if (path === "/api/groups" || path === "/api/versions" || path === "/api/devices") {
    if (typeof list === "string") return json({ error: list }, 400);
    if (path === "/api/groups") {
      const g = await pageOfGroups(store, list);
      return pagedJson(path, { ...g, items: g.items.map(({ daily: _d, ...x }) => x) }, MAX_PAGE_ITEMS);
    }
    if (path === "/api/versions") {
      const v = await pageOfVersions(store, list);
      return pagedJson(path, { ...v, items: v.items.map(({ daily: _d, ...x }) => x) }, MAX_PAGE_ITEMS);
    }
    return pagedJson(path, await pageOfDevices(store, list), MAX_PAGE_ITEMS);
  }
  let id = param(path, "/api/groups/");
  if (id !== undefined) {
    const p = paging(GROUP_REPORTS);
    if (p instanceof Response) return p;
    const g = await groupDetail(store, id, p);
    return g ? json(g, 200, links(path, g.reportPage, GROUP_REPORTS)) : json({ error: "no such group" }, 404);
  }
  id = param(path, "/api/devices/");
  if (id !== undefined) {
    const p = paging(DEVICE_BOOTS);
    if (p instanceof Response) return p;
    const d = await deviceDetail(store, id, p);
    return d ? json(d, 200, links(path, d.bootPage, DEVICE_BOOTS)) : json({ error: "no such device" }, 404);
  }
  if (path === "/api/rollbacks" || path === "/rollbacks") {
    const p = paging(ROLLBACKS_PAGE_ITEMS);
    if (p instanceof Response) return p;
    const filter = rollbackFilter(url);
    const list = await pageOfRollbacks(store, filter, p);
    if (api) return pagedJson(rollbacksLink(path, filter), list, ROLLBACKS_PAGE_ITEMS);
    return page(rollbacksPage(list, filter), 200, setCookie);
  }
  id = param(path, "/api/messages/");
  if (id !== undefined) {
    const m = await storedMessage(store, id);
    return m !== undefined ? new Response(m, { headers: { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8" } }) : json({ error: "no such message" }, 404);
  }
  if (api) return json({ error: "not found" }, 404);
  if (path === "/" || path === "/groups" || path === "/versions" || path === "/devices") {
    if (typeof list === "string") return page(errorPage(400, list), 400);
    if (path === "/versions") return page(versionsPage(await pageOfVersions(store, list), historyDays()), 200, setCookie);
    if (path === "/devices") return page(devicesPage(await pageOfDevices(store, list)), 200, setCookie);
    return page(groupsPage(await pageOfGroups(store, list)), 200, setCookie);
  }
  id = param(path, "/groups/");
  if (id !== undefined) {
    const p = paging(GROUP_REPORTS);
    if (p instanceof Response) return p;
    const g = await groupDetail(store, id, p);
    return g ? page(groupPage(g), 200, setCookie) : page(errorPage(404, "No such crash group"), 404);
  }
  id = param(path, "/devices/");
  if (id !== undefined) {
    const p = paging(DEVICE_BOOTS);
    if (p instanceof Response) return p;
    const d = await deviceDetail(store, id, p);
    return d ? page(devicePage(d), 200, setCookie) : page(errorPage(404, "No such device"), 404);
  }
  return page(errorPage(404, "Not found"), 404);
}

/** IPv4 or (bracketed) IPv6 address: a name no DNS answer can re-point. */
const IP_HOST = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])$/;

/** The host part of a Host header, lower case; undefined when there is none or it is malformed. */
function hostOf(header: string | null): string | undefined {
  if (header === null) return undefined;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?$/.exec(header.trim());
  return m?.[1]?.toLowerCase();
}

/**
 * Refuse what must not reach the routes: a Host that is not this server's
 * (421: DNS rebinding), a body (the API takes none; bodies over
 * MAX_REQUEST_BODY_BYTES or of unknown length are refused with 413). Undefined when the request may go on.
 */
export function refuse(req: Request, allowed: ReadonlySet<string>): Response | undefined {
  const host = hostOf(req.headers.get("host"));
  if (host === undefined || !(IP_HOST.test(host) || host === "localhost" || allowed.has(host)))
    return json({ error: `Cannot answer for host "${(req.headers.get("host") ?? "").slice(0, 255)}": not this server's name (see --host-name)` }, 421);
  const length = req.headers.get("content-length");
  if (req.headers.get("transfer-encoding") !== null || (length !== null && !(/^\d{1,12}$/.test(length) && Number(length) <= MAX_REQUEST_BODY_BYTES)))
    return json({ error: `Cannot take a request body over ${MAX_REQUEST_BODY_BYTES} bytes: the API takes none` }, 413);
  return undefined;
}

export function serve(store: Store, options: ServeOptions): Server<undefined> {
  const allowed = new Set([options.hostname, ...(options.hostNames ?? [])].map((n) => n.toLowerCase()));
  return Bun.serve({
    hostname: options.hostname,
    port: options.port,
    maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
    fetch: async (req) => {
      const refused = refuse(req, allowed);
      if (refused) return refused;
      try {
        return await handle(store, req, options.token, options.stats);
      } catch (err) {
        return json({ error: `Cannot answer: ${err instanceof Error ? err.message : String(err)}` }, 500);
      }
    },
  });
}
