// c15t's backend as its self-hosting docs set it up (Kysely over a pg Pool, c15tInstance, its fetch
// handler under @hono/node-server), in a node:cluster of WORKERS processes on 127.0.0.1:PORT: c15t
// has no cluster mode of its own. The primary prints one line "c15t-bench ready" once every worker
// listens. Our bench code: bench/peer_bench.py copies it beside the installed packages and runs it.
import cluster from 'node:cluster';
import process from 'node:process';

const port = Number(process.env.PORT);
const workers = Number(process.env.WORKERS ?? 2);

if (cluster.isPrimary) {
  let listening = 0;
  cluster.on('listening', () => {
    listening += 1;
    if (listening === workers) console.log('c15t-bench ready');
  });
  cluster.on('exit', (worker, code, signal) => {
    console.error(`c15t-bench: worker ${worker.process.pid} exited (${signal ?? code})`);
  });
  for (let i = 0; i < workers; i += 1) cluster.fork();
  const stop = () => {
    for (const worker of Object.values(cluster.workers)) worker.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const { c15tInstance } = await import('@c15t/backend');
  const { kyselyAdapter } = await import('@c15t/backend/db/adapters/kysely');
  const { serve } = await import('@hono/node-server');
  const { Kysely, PostgresDialect } = await import('kysely');
  const { default: pg } = await import('pg');

  const db = new Kysely({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) }),
  });
  const instance = c15tInstance({
    appName: 'c15t-bench',
    basePath: '/api/c15t',
    trustedOrigins: [process.env.TRUSTED_ORIGIN],
    adapter: kyselyAdapter({ db, provider: 'postgresql' }),
  });
  serve({ fetch: instance.handler, port, hostname: '127.0.0.1' });
}
