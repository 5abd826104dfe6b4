// The console's shell: sign-in, navigation and the hash router. Pages live in ./pages; each route
// below is one entry, so a later panel (insights, impact preview) is one more line.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, onTokenRefused, session } from './api.js';
import { html, render } from './html.js';
import { ApprovalsPage } from './pages/approvals.js';
import { FlagCreatePage } from './pages/flag-create.js';
import { FlagEditPage } from './pages/flag-edit.js';
import { FlagListPage } from './pages/flag-list.js';
import { FlagPage } from './pages/flag.js';
import { KillswitchesPage } from './pages/killswitches.js';
import { RolloutsPage } from './pages/rollouts.js';
import { SegmentListPage } from './pages/segment-list.js';
import { SegmentPage } from './pages/segment.js';
import { SignInPage } from './pages/sign-in.js';
import { finishProviderSignIn, startProviderSignIn } from './provider-sign-in.js';

/** `#/flags/new-checkout?x=1` → `{ parts: ['flags', 'new-checkout'], params }`. */
function parseRoute(hash) {
  const [path, search = ''] = hash.replace(/^#\/?/, '').split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(search) };
}

const NAVIGATION = [
  { section: 'flags', label: 'Flags' },
  { section: 'segments', label: 'Segments' },
  { section: 'approvals', label: 'Approvals' },
  { section: 'rollouts', label: 'Rollouts' },
  { section: 'killswitches', label: 'Killswitches' },
];

/** Route → page. `parts` after the section are the page's own (a key, "edit"). */
function pageFor(route, me) {
  const [section = 'flags', key, action] = route.parts;
  const props = { me, params: route.params };
  if (section === 'new-flag') return html`<${FlagCreatePage} ...${props} />`;
  if (section === 'flags' && key && action === 'edit') return html`<${FlagEditPage} ...${props} flagKey=${key} />`;
  if (section === 'flags' && key) return html`<${FlagPage} ...${props} flagKey=${key} />`;
  if (section === 'segments' && key) return html`<${SegmentPage} ...${props} segmentKey=${key} />`;
  if (section === 'segments') return html`<${SegmentListPage} ...${props} />`;
  if (section === 'approvals') return html`<${ApprovalsPage} ...${props} />`;
  if (section === 'rollouts') return html`<${RolloutsPage} ...${props} />`;
  if (section === 'killswitches') return html`<${KillswitchesPage} ...${props} />`;
  return html`<${FlagListPage} ...${props} />`;
}

function Shell({ me, onSignOut }) {
  const [hash, setHash] = useState(location.hash);
  const route = useMemo(() => parseRoute(hash), [hash]);
  const main = useRef(null);
  useLayoutEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    // A link followed between the first render and this subscription fired its hashchange unheard.
    changed();
    return () => removeEventListener('hashchange', changed);
  }, []);
  const section = route.parts[0] ?? 'flags';
  // A new flag is made from the Flags section: it stays the current one.
  const current = section === 'new-flag' ? 'flags' : section;
  const routeKey = route.parts.join('/');
  useEffect(() => {
    // A new page moves keyboard and screen-reader focus to it, as a page load would.
    if (document.activeElement?.closest?.('nav') || document.activeElement === document.body) main.current?.focus();
  }, [routeKey]);
  return html`
    <a class="skip" href="#main" onClick=${(event) => { event.preventDefault(); main.current?.focus(); }}>Skip to content</a>
    <header class="top">
      <p class="brand"><a href="#/flags">Flagship</a></p>
      <nav aria-label="Sections">
        <ul>
          ${NAVIGATION.map((item) => html`<li><a href=${`#/${item.section}`} aria-current=${current === item.section ? 'page' : undefined}>${item.label}</a></li>`)}
        </ul>
      </nav>
      <p class="who">Signed in as <strong data-testid="signed-in-as">${me.owner.name}</strong> <span class="token-name">${me.tokenId.startsWith('jwt:') ? '(through the identity provider)' : `(token ${me.name})`}</span>
        <button type="button" class="link" onClick=${onSignOut}>Sign out</button></p>
    </header>
    <main id="main" ref=${main} tabindex="-1">${pageFor(route, me)}</main>`;
}

/** This load is the identity provider sending the tab back with a code (or an error). */
const returningFromProvider = /[?&](code|error)=/.test(location.search);

function App() {
  const [me, setMe] = useState(null);
  const [checking, setChecking] = useState(Boolean(session.token()) || returningFromProvider);
  const [notice, setNotice] = useState(null);
  // GET /v1/auth/config's identity provider: null when there is none (or it cannot be asked).
  const [provider, setProvider] = useState(null);

  async function check() {
    try {
      setMe(await api('GET', '/v1/me'));
    } catch (error) {
      session.clear();
      setMe(null);
      if (error.status !== 401) setNotice(error.message);
    } finally {
      setChecking(false);
    }
  }

  useEffect(() => {
    onTokenRefused((message) => {
      session.clear();
      setMe(null);
      setNotice(`The API refused the token${message ? `: ${message}` : ''}. Sign in again.`);
    });
    api('GET', '/v1/auth/config', { token: null }).then((config) => setProvider(config.identityProvider), () => setProvider(null));
    finishProviderSignIn().then((outcome) => {
      if (outcome?.token) session.store(outcome.token);
      if (outcome?.problem) setNotice(outcome.problem);
      if (session.token()) check();
      else setChecking(false);
    });
  }, []);

  if (checking) return html`<main id="main"><p role="status">Checking your token…</p></main>`;
  if (!me) {
    return html`<${SignInPage} notice=${notice} provider=${provider} onProviderSignIn=${() => startProviderSignIn(provider)} onSignIn=${async (token) => {
      session.store(token);
      setNotice(null);
      setChecking(true);
      await check();
    }} />`;
  }
  return html`<${Shell} me=${me} onSignOut=${() => {
    session.clear();
    setMe(null);
    setNotice('Signed out.');
  }} />`;
}

render(html`<${App} />`, document.getElementById('app'));
