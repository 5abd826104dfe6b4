import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { currentAccessToken, type SignedIn } from './device-login.ts';
import { CliError, usageError } from './exit-codes.ts';

export interface Profile {
  url?: string;
  token?: string;
  /** For a token from the identity provider: when it expires (ISO 8601). */
  tokenExpiresAt?: string;
  /** For a token from the identity provider: how to get the next one when it expires. */
  refresh?: SignedIn['refresh'];
}

/** `~/.config/flagship/config.yaml`: named profiles, one per deployment, and the one in use. */
export interface ProfileFile {
  currentProfile?: string;
  profiles: Record<string, Profile>;
}

export interface Connection {
  profile: string;
  url: string;
  token: string | undefined;
  /** The token to send now, refreshed through the identity provider (and stored) when it has expired. */
  currentToken?: () => Promise<string>;
}

export interface ConnectionOptions {
  profile?: string;
  url?: string;
  token?: string;
}

export function profileFilePath(env: NodeJS.ProcessEnv): string {
  if (env.FLAGSHIP_CONFIG) return env.FLAGSHIP_CONFIG;
  const configHome = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(configHome, 'flagship', 'config.yaml');
}

export function readProfileFile(path: string): ProfileFile {
  if (!existsSync(path)) return { profiles: {} };
  let parsed: unknown;
  try {
    parsed = parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliError(`the profile file ${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return { profiles: {} };
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError(`the profile file ${path} must be a mapping with "profiles"`);
  const file = parsed as Partial<ProfileFile>;
  return { ...(typeof file.currentProfile === 'string' ? { currentProfile: file.currentProfile } : {}), profiles: file.profiles ?? {} };
}

/** Written readable by its owner only: it holds tokens. */
export function writeProfileFile(path: string, file: ProfileFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, stringify(file), { mode: 0o600 });
  chmodSync(path, 0o600);
}

/**
 * Where to connect and with which token. Options on the command line win. An explicit `--profile`
 * comes next, so `--profile production` never silently talks to the FLAGSHIP_URL of the shell it
 * runs in; without one, FLAGSHIP_URL and FLAGSHIP_TOKEN come before the current profile
 * (FLAGSHIP_PROFILE, else the file's `currentProfile`, else `default`).
 */
export function resolveConnection(options: ConnectionOptions, env: NodeJS.ProcessEnv): Connection {
  const path = profileFilePath(env);
  const file = readProfileFile(path);
  const name = options.profile ?? env.FLAGSHIP_PROFILE ?? file.currentProfile ?? 'default';
  const profile = file.profiles[name];
  if ((options.profile || env.FLAGSHIP_PROFILE) && !profile) {
    throw usageError(`no profile "${name}" in ${path}; create it with: flagship login --profile ${name} --url URL`);
  }
  const fromEnv = options.profile ? {} : { url: env.FLAGSHIP_URL || undefined, token: env.FLAGSHIP_TOKEN || undefined };
  const url = options.url ?? fromEnv.url ?? profile?.url;
  if (!url) throw usageError('no service URL: pass --url, set FLAGSHIP_URL, or run flagship login --url URL');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`the service URL "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usageError(`the service URL "${url}" must be http or https`);
  const token = options.token ?? fromEnv.token ?? profile?.token;
  const signedIn = token === profile?.token ? signedInOf(profile) : undefined;
  return {
    profile: name,
    url: url.replace(/\/+$/, ''),
    token,
    ...(signedIn ? { currentToken: renewingToken(signedIn, path, name) } : {}),
  };
}

/** One refresh at a time however many requests a command sends at once; each later request sees the renewed token. */
function renewingToken(signedIn: SignedIn, path: string, name: string): () => Promise<string> {
  let current = signedIn;
  let renewing: Promise<string> | undefined;
  return () => {
    renewing ??= currentAccessToken(current, name, (renewed) => {
      current = renewed;
      storeSignIn(path, name, renewed);
    }).finally(() => {
      renewing = undefined;
    });
    return renewing;
  };
}

/** The profile's sign-in through the identity provider, when its token came from one with a refresh token. */
function signedInOf(profile: Profile | undefined): SignedIn | undefined {
  if (!profile?.token || !profile.refresh) return undefined;
  return { accessToken: profile.token, refresh: profile.refresh, ...(profile.tokenExpiresAt ? { expiresAt: profile.tokenExpiresAt } : {}) };
}

/** Stores a sign-in's tokens in the named profile, leaving the rest of the file as it is now. */
export function storeSignIn(path: string, name: string, signedIn: SignedIn, url?: string): void {
  const file = readProfileFile(path);
  const { token: _oldToken, tokenExpiresAt: _oldExpiry, refresh: _oldRefresh, ...rest } = file.profiles[name] ?? {};
  file.profiles[name] = {
    ...rest,
    ...(url ? { url } : {}),
    token: signedIn.accessToken,
    ...(signedIn.expiresAt ? { tokenExpiresAt: signedIn.expiresAt } : {}),
    ...(signedIn.refresh ? { refresh: signedIn.refresh } : {}),
  };
  writeProfileFile(path, file);
}

