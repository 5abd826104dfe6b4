import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateTokenSecret } from '../data/tokens.ts';

const ADMIN_TOKEN_FILE = 'admin-token';

/**
 * The admin token is FLAGS_ADMIN_TOKEN when set; otherwise one is generated on the first start and
 * kept in the data folder (mode 600), so every later start and every process shares it.
 */
export function resolveAdminToken(options: { adminToken: string | undefined; dataDir: string }): { secret: string; source: 'env' | 'file' | 'generated'; path: string } {
  const path = join(options.dataDir, ADMIN_TOKEN_FILE);
  if (options.adminToken) return { secret: options.adminToken, source: 'env', path };
  if (existsSync(path)) return { secret: readFileSync(path, 'utf8').trim(), source: 'file', path };
  mkdirSync(options.dataDir, { recursive: true });
  const secret = generateTokenSecret();
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process generated it first: theirs wins, so every process shares one token.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { secret: readFileSync(path, 'utf8').trim(), source: 'file', path };
    throw error;
  }
  chmodSync(path, 0o600);
  return { secret, source: 'generated', path };
}
