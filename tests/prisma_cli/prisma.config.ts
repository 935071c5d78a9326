// Prisma CLI configuration used by prisma_runner.py (tests only).
//
// Prisma 6.19 can run `migrate deploy/status/resolve` with its WebAssembly
// schema engine when a driver adapter is configured (`engine: "js"`), so no
// native engine binary has to be downloaded.
//
// Inputs (environment, set by prisma_runner.py):
//   PRISMA_ORACLE_SCHEMA      path of a schema.prisma (provider = "postgresql")
//   PRISMA_ORACLE_MIGRATIONS  path of the migrations directory
//   DATABASE_URL              postgresql:// URL (a `schema=` query parameter
//                             is honoured by setting search_path)
//
// Two deliberate changes to the stock @prisma/adapter-pg behaviour, so that
// the WebAssembly engine behaves like the native one:
//   * a single pooled connection (the native engine uses one connection; the
//     advisory lock and every query then share the same session);
//   * a migration script is sent as ONE simple-protocol query (the native
//     engine does `simple_query(script)`); the stock adapter splits the script
//     on every ";", which breaks dollar-quoted bodies and string literals;
//   * result columns of the catalog types `name` (oid 19) and `"char"`
//     (oid 18) are reported as text: adapter-pg 6.19 cannot map them and the
//     engine's own catalog queries (e.g. listing tables) select `relname`.
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

// The WebAssembly engine arms a JS timer for its 10 s advisory-lock timeout
// and never clears it, which keeps the CLI process alive for 10 s after
// `migrate deploy/resolve` has finished.  Long timers are unref'd so the
// process exits when the work is done (pending queries still keep it alive).
const originalSetTimeout = globalThis.setTimeout;
(globalThis as any).setTimeout = (fn: any, ms?: number, ...rest: any[]) => {
  const timer: any = originalSetTimeout(fn, ms, ...rest);
  if (typeof ms === "number" && ms >= 5000 && typeof timer?.unref === "function") timer.unref();
  return timer;
};

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function schemaFromUrl(url: string): string | undefined {
  try {
    return new URL(url).searchParams.get("schema") ?? undefined;
  } catch {
    return undefined;
  }
}

function adapterFactory() {
  const url = required("DATABASE_URL");
  const schema = schemaFromUrl(url);
  const poolConfig: Record<string, unknown> = {
    connectionString: url,
    max: 1,
    // let the CLI process exit as soon as the engine is done
    allowExitOnIdle: true,
  };
  if (schema) {
    poolConfig.options = `-c search_path="${schema.replace(/"/g, '""')}"`;
  }
  const factory = new PrismaPg(poolConfig, schema ? { schema } : undefined);
  const connect = factory.connect.bind(factory);
  (factory as any).connect = async () => {
    const adapter: any = await connect();
    const performIO = adapter.performIO.bind(adapter);
    adapter.performIO = async (query: unknown) => {
      const result = await performIO(query);
      for (const field of result?.fields ?? []) {
        if (field.dataTypeID === 19 || field.dataTypeID === 18) field.dataTypeID = 25;
      }
      return result;
    };
    adapter.executeScript = async (script: string) => {
      try {
        await adapter.client.query(script);
      } catch (error) {
        adapter.onError(error);
      }
    };
    return adapter;
  };
  return factory;
}

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: required("PRISMA_ORACLE_SCHEMA"),
  migrations: { path: required("PRISMA_ORACLE_MIGRATIONS") },
  adapter: async () => adapterFactory(),
});
