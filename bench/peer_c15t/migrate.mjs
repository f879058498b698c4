// Create c15t's tables in DATABASE_URL the way its CLI's `self-host migrate` does for Kysely:
// DB.client(adapter), then migrator({ db, schema: 'latest' }) and execute().
// Our bench code: bench/peer_bench.py copies it beside the installed packages and runs it there.
import { kyselyAdapter } from '@c15t/backend/db/adapters/kysely';
import { migrator } from '@c15t/backend/db/migrator';
import { DB } from '@c15t/backend/db/schema';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';

const db = new Kysely({
  dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) }),
});
try {
  const client = DB.client(kyselyAdapter({ db, provider: 'postgresql' }));
  const migration = await migrator({ db: client, schema: 'latest' });
  if (typeof migration.execute !== 'function') throw new Error('the migrator returned no execute()');
  await migration.execute();
  console.log(`c15t migrated: ${migration.operations?.length ?? '?'} operations`);
} finally {
  await db.destroy();
}
