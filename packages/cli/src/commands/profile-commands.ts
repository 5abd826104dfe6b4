import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { ApiClient, ApiError } from '../api-client.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { printResult } from '../output.ts';
import { deviceLogin, readAuthConfig } from '../device-login.ts';
import { profileFilePath, readProfileFile, storeSignIn, writeProfileFile } from '../profiles.ts';
import type { Session } from '../session.ts';

/** `login` stores a deployment's URL and token as a named profile; `profile` lists and switches them. */
export function registerProfileCommands(program: Command, session: Session): void {
  program
    .command('login')
    .description('Sign in to a deployment and store it as a profile: through the identity provider\'s device flow when the service has one and no token is given, else with a token (from --token, FLAGSHIP_TOKEN, or stdin)')
    .option('--use', 'make this profile the current one (the first profile stored always is)')
    .option('--device', 'sign in through the identity provider\'s device flow (the default when the service offers it and no token is given)')
    .option('--no-device', 'never use the device flow: take a token')
    .action(async (options: { use?: boolean; device?: boolean }) => {
      const { profile: explicit, url: urlOption, token: tokenOption } = session.options;
      const name = explicit ?? session.env.FLAGSHIP_PROFILE ?? 'default';
      const path = profileFilePath(session.env);
      const file = readProfileFile(path);
      const url = (urlOption ?? file.profiles[name]?.url ?? session.env.FLAGSHIP_URL)?.replace(/\/+$/, '');
      if (!url) throw usageError('login needs the service URL: flagship login --url https://flags.example.com');
      if (options.device && tokenOption) throw usageError('--device signs in through the identity provider; it takes no --token');
      const givenToken = tokenOption ?? (options.device ? undefined : session.env.FLAGSHIP_TOKEN);
      if (options.device !== false && !givenToken) {
        const provider = await readAuthConfig(url);
        if (provider?.cli) {
          const signedIn = await deviceLogin({ ...provider, cli: provider.cli }, (line) => session.terminal.note(line));
          const who = await whoIs(new ApiClient({ profile: name, url, token: signedIn.accessToken }), url);
          storeSignIn(path, name, signedIn, url);
          useProfile(path, name, options.use);
          session.terminal.note(`Logged in to ${url} as ${who} through the identity provider, as profile "${name}" (stored in ${path}).`);
          return;
        }
        if (options.device) throw usageError(`the service at ${url} offers no identity provider sign-in for the CLI (FLAGS_OIDC_CLI_CLIENT_ID); log in with a token`);
      }
      const token = givenToken ?? (await readToken());
      if (!token) throw usageError('no token given: pass --token, set FLAGSHIP_TOKEN, or type it on stdin');
      const client = new ApiClient({ profile: name, url, token });
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
      const stored = readProfileFile(path);
      stored.profiles[name] = { url, token };
      writeProfileFile(path, stored);
      useProfile(path, name, options.use);
      session.terminal.note(`Logged in to ${url} as profile "${name}" (stored in ${path}).`);
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

/** Who the service takes the signed-in person for (their readable name and id), which also proves it accepts the token. */
async function whoIs(client: ApiClient, url: string): Promise<string> {
  try {
    const me = await client.get<{ owner: { id: string; name: string } }>('/v1/me');
    return me.owner.name === me.owner.id ? me.owner.id : `${me.owner.name} (${me.owner.id})`;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'unauthenticated') throw new CliError(`the service at ${url} does not accept the identity provider's token (${error.message}); nothing was stored`, EXIT.unauthorized);
    if (error instanceof ApiError && error.code === 'permission_denied') throw new CliError(`the service at ${url} grants this identity no scope (none of its groups is mapped); nothing was stored`, EXIT.unauthorized);
    throw error;
  }
}

/** The first profile stored becomes the current one, and any with --use. */
function useProfile(path: string, name: string, use: boolean | undefined): void {
  const file = readProfileFile(path);
  if (!use && file.currentProfile) return;
  file.currentProfile = name;
  writeProfileFile(path, file);
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
