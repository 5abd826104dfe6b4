import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { ApiClient, ApiError } from '../api-client.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { printResult } from '../output.ts';
import { profileFilePath, readProfileFile, writeProfileFile } from '../profiles.ts';
import type { Session } from '../session.ts';

/** `login` stores a deployment's URL and token as a named profile; `profile` lists and switches them. */
export function registerProfileCommands(program: Command, session: Session): void {
  program
    .command('login')
    .description('Check a token against a deployment and store both as a profile (the token from --token, FLAGSHIP_TOKEN, or stdin)')
    .option('--use', 'make this profile the current one (the first profile stored always is)')
    .action(async (options: { use?: boolean }) => {
      const { profile: explicit, url: urlOption, token: tokenOption } = session.options;
      const name = explicit ?? session.env.FLAGSHIP_PROFILE ?? 'default';
      const path = profileFilePath(session.env);
      const file = readProfileFile(path);
      const url = urlOption ?? file.profiles[name]?.url ?? session.env.FLAGSHIP_URL;
      if (!url) throw usageError('login needs the service URL: flagship login --url https://flags.example.com');
      const token = tokenOption ?? session.env.FLAGSHIP_TOKEN ?? (await readToken());
      if (!token) throw usageError('no token given: pass --token, set FLAGSHIP_TOKEN, or type it on stdin');
      const client = new ApiClient({ profile: name, url: url.replace(/\/+$/, ''), token });
      // Any route that authenticates tells a good token from a bad one; a token without the manage
      // scope (an approver's, a killswitch operator's) is still a good token.
      try {
        await client.get('/v1/flags', { limit: 1 });
      } catch (error) {
        if (!(error instanceof ApiError) || error.code !== 'permission_denied') {
          if (error instanceof ApiError && error.code === 'unauthenticated') throw new CliError(`the service at ${url} does not accept this token; nothing was stored`, EXIT.unauthorized);
          throw error;
        }
      }
      file.profiles[name] = { url: client.connection.url, token };
      if (options.use || !file.currentProfile) file.currentProfile = name;
      writeProfileFile(path, file);
      session.terminal.note(`Logged in to ${client.connection.url} as profile "${name}" (stored in ${path}).`);
    });

  const profile = program.command('profile').description('List and choose the stored profiles');
  profile
    .command('ls')
    .description('List the profiles (tokens are not shown)')
    .action(() => {
      const file = readProfileFile(profileFilePath(session.env));
      const rows = Object.entries(file.profiles).map(([name, value]) => ({ name, url: value.url ?? null, current: name === file.currentProfile, token: value.token ? 'stored' : 'none' }));
      printResult(session.terminal, rows);
    });
  profile
    .command('use <name>')
    .description('Make a profile the current one')
    .action((name: string) => {
      const path = profileFilePath(session.env);
      const file = readProfileFile(path);
      if (!file.profiles[name]) throw usageError(`no profile "${name}" in ${path}`);
      file.currentProfile = name;
      writeProfileFile(path, file);
      session.terminal.note(`Now using profile "${name}".`);
    });
}

async function readToken(): Promise<string | undefined> {
  const lines = createInterface({ input: process.stdin, ...(process.stdin.isTTY ? { output: process.stderr } : {}), terminal: false });
  try {
    const answer = process.stdin.isTTY ? await lines.question('Token: ') : await new Promise<string>((resolve) => {
      lines.once('line', resolve);
      lines.once('close', () => resolve(''));
    });
    return answer.trim() || undefined;
  } finally {
    lines.close();
  }
}
