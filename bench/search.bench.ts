// `npm run bench:search`: why flag search is a trigram index over ILIKE and not full-text search.
// 10,000 flags with realistic keys, descriptions and tags in an embedded PostgreSQL; each search
// term is run both ways, timed (median of 20) and compared for what it finds.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../src/data/migrate.ts';
import { startEmbeddedPostgres } from '../src/launcher/embedded-postgres.ts';
import { createLogger } from '../src/log.ts';
import { freePorts } from '../test/support/ports.ts';

const AREAS = ['checkout', 'payments', 'search', 'onboarding', 'billing', 'profile', 'notifications', 'recommendations', 'pricing', 'inventory'];
const THINGS = ['flow', 'banner', 'layout', 'api', 'cache', 'export', 'dialog', 'widget', 'retry', 'limits'];
const TEAMS = ['team-payments', 'team-growth', 'team-core', 'team-mobile', 'team-data'];

const dir = mkdtempSync(join(tmpdir(), 'bench-search-'));
chmodSync(dir, 0o755);
const postgres = await startEmbeddedPostgres({ dataDir: dir, port: await freePorts(1), log: createLogger('silent') });
// The owner: the comparison builds a second index.
const client = new pg.Client({ connectionString: postgres.migrationDatabaseUrl });
try {
  await migrate({ databaseUrl: postgres.migrationDatabaseUrl });
  await client.connect();
  const rows = Array.from({ length: 10_000 }, (_, index) => {
    const area = AREAS[index % AREAS.length]!;
    const thing = THINGS[Math.floor(index / AREAS.length) % THINGS.length]!;
    const key = `${area}-${thing}-${index}`;
    const description = `Turns on the new ${thing} in ${area} for the ${index % 2 ? 'web' : 'mobile'} clients`;
    const tags = [TEAMS[index % TEAMS.length]!, area];
    return { key, description, tags };
  });
  await client.query(`
    INSERT INTO flags (key, version, state, definition, description, tags, search_text, created_by, updated_by)
    SELECT key, 1, 'active', '{}'::jsonb, description, tags, key || ' ' || description || ' ' || array_to_string(tags, ' '), 'bench', 'bench'
    FROM jsonb_to_recordset($1::jsonb) AS t(key text, description text, tags text[])`, [JSON.stringify(rows)]);
  await client.query(`CREATE INDEX flags_search_fts_idx ON flags USING gin (to_tsvector('simple', search_text))`);
  await client.query('ANALYZE flags');

  const trigram = (term: string) => client.query(`SELECT key FROM flags WHERE search_text ILIKE $1 ORDER BY key LIMIT 50`, [`%${term}%`]);
  const fullText = (term: string) => client.query(`SELECT key FROM flags WHERE to_tsvector('simple', search_text) @@ plainto_tsquery('simple', $1) ORDER BY key LIMIT 50`, [term]);
  const countTrigram = async (term: string) => Number((await client.query(`SELECT count(*) FROM flags WHERE search_text ILIKE $1`, [`%${term}%`])).rows[0].count);
  const countFullText = async (term: string) => Number((await client.query(`SELECT count(*) FROM flags WHERE to_tsvector('simple', search_text) @@ plainto_tsquery('simple', $1)`, [term])).rows[0].count);

  async function median(run: () => Promise<unknown>): Promise<number> {
    const times: number[] = [];
    for (let index = 0; index < 20; index += 1) {
      const started = performance.now();
      await run();
      times.push(performance.now() - started);
    }
    return times.sort((a, b) => a - b)[10]!;
  }

  console.log('term                     trigram ILIKE          full-text (simple)');
  for (const term of ['checkout', 'checkout-flow', 'check', 'recommend', 'team-payments', 'mobile clients', 'payments-api-4']) {
    const [tTime, fTime, tCount, fCount] = [await median(() => trigram(term)), await median(() => fullText(term)), await countTrigram(term), await countFullText(term)];
    console.log(`${term.padEnd(22)} ${tTime.toFixed(2).padStart(6)} ms ${String(tCount).padStart(6)} hits   ${fTime.toFixed(2).padStart(6)} ms ${String(fCount).padStart(6)} hits`);
  }
} finally {
  await client.end().catch(() => undefined);
  await postgres.stop();
  rmSync(dir, { recursive: true, force: true });
}
