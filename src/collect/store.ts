// The collector's database: SQLite (default, WAL) or PostgreSQL, both through
// Bun's built-in SQL client, with one set of queries. Every value from a device
// reaches the database as a bound parameter (tagged templates), never as text.
import { SQL } from "bun";
import { MIGRATIONS } from "./migrations.ts";

export type Dialect = "sqlite" | "postgres";

/** How long a SQLite writer waits for another connection's lock before failing. */
const SQLITE_BUSY_TIMEOUT_MS = 5000;
/** PostgreSQL connections per collector: ingest is serial, the web page reads. */
const POSTGRES_POOL_SIZE = 4;
/** Advisory lock key that serialises migrations between collectors sharing a PostgreSQL database ("ckmg"). */
const MIGRATION_LOCK_KEY = 0x636b6d67;

export const DEFAULT_DB_URL = "sqlite://./crashkeep-collect.db";

export interface Store {
  sql: SQL;
  dialect: Dialect;
  /** The URL without a password, for messages. */
  where: string;
  close(): Promise<void>;
}

export function dialectOf(url: string): Dialect {
  if (/^(sqlite|file):/.test(url)) return "sqlite";
  if (/^postgres(ql)?:\/\//.test(url)) return "postgres";
  throw new Error(`Cannot open database "${url}": use sqlite:///path/collect.db or postgres://user@host/db`);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

/** Open the database and apply the migrations it lacks. */
export async function openStore(url: string): Promise<Store> {
  const dialect = dialectOf(url);
  const where = redact(url);
  let sql: SQL;
  try {
    sql = dialect === "sqlite" ? new SQL(url) : new SQL(url, { max: POSTGRES_POOL_SIZE });
    if (dialect === "sqlite") {
      await sql.unsafe(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      await sql`PRAGMA journal_mode = WAL`;
      await sql`PRAGMA synchronous = NORMAL`;
    }
    await migrate(sql, dialect);
    // Planner statistics, so the aggregates use the covering indexes (SQLite 3.46+: analyzes what needs it, cheaply).
    if (dialect === "sqlite") await sql`PRAGMA optimize = 0x10002`;
  } catch (err) {
    throw new Error(`Cannot open database "${where}": ${err instanceof Error ? err.message : String(err)}`);
  }
  return { sql, dialect, where, close: () => sql.close() };
}

async function migrate(sql: SQL, dialect: Dialect): Promise<void> {
  await sql.begin(async (tx) => {
    // Collectors starting together: the first takes the lock and migrates, the others then find it done.
    if (dialect === "postgres") await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`;
    const rows: Array<{ version: number }> = await tx`SELECT version FROM schema_migrations`;
    const applied = new Set(rows.map((r) => Number(r.version)));
    const newest = Math.max(0, ...applied);
    const known = MIGRATIONS.at(-1)?.version ?? 0;
    if (newest > known) throw new Error(`the database is at schema version ${newest}, newer than this collector's ${known}`);
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      for (const statement of m.statements) await tx.unsafe(statement);
      await tx`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${m.version}, ${m.name}, ${new Date().toISOString()})`;
    }
  });
}

/** Schema versions applied, oldest first. */
export async function schemaVersions(store: Store): Promise<number[]> {
  const rows: Array<{ version: number }> = await store.sql`SELECT version FROM schema_migrations ORDER BY version`;
  return rows.map((r) => Number(r.version));
}
