// Sign-in: with the company's identity provider when the service offers it (provider-sign-in.js),
// and with an API token (or a JWT of the provider's, pasted) either way.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { providerSignInOffered } from '../provider-sign-in.js';

export function SignInPage({ notice, provider, onSignIn, onProviderSignIn }) {
  const [token, setToken] = useState('');
  const input = useRef(null);
  useEffect(() => {
    document.title = 'Sign in · Flagship';
    input.current?.focus();
  }, []);
  return html`<main id="main" class="sign-in">
    <h1>Flagship console</h1>
    ${notice && html`<p class="message" role="status">${notice}</p>`}
    ${providerSignInOffered(provider) && html`<section class="provider-sign-in" aria-labelledby="provider-heading">
      <h2 id="provider-heading">With your company account</h2>
      <p><button type="button" class="primary" onClick=${onProviderSignIn}>Sign in with the identity provider</button></p>
      <p class="help">You are sent to ${new URL(provider.issuer).host} and back here; what you may do comes from your groups there.</p>
    </section>
    <h2>With a token</h2>`}
    <form onSubmit=${(event) => {
      event.preventDefault();
      if (token.trim()) onSignIn(token.trim());
    }}>
      <label for="token">API token</label>
      <input id="token" ref=${input} type="password" autocomplete="off" spellcheck="false" required
        aria-describedby="token-help" value=${token} onInput=${(event) => setToken(event.currentTarget.value)} />
      <p id="token-help" class="help">A token with <code>feature_flag:manage</code> (and <code>approve</code> or <code>killswitch</code> for those pages). An access token of the identity provider (a JWT) works here too. It is kept in this tab only and forgotten when the tab closes.</p>
      <button type="submit">Sign in</button>
    </form>
  </main>`;
}
