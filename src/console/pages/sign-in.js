// Sign-in with an API token. The identity provider's sign-in (issue 14) joins here as a second way
// in, beside the token form.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';

export function SignInPage({ notice, onSignIn }) {
  const [token, setToken] = useState('');
  const input = useRef(null);
  useEffect(() => {
    document.title = 'Sign in · Flagship';
    input.current?.focus();
  }, []);
  return html`<main id="main" class="sign-in">
    <h1>Flagship console</h1>
    ${notice && html`<p class="message" role="status">${notice}</p>`}
    <form onSubmit=${(event) => {
      event.preventDefault();
      if (token.trim()) onSignIn(token.trim());
    }}>
      <label for="token">API token</label>
      <input id="token" ref=${input} type="password" autocomplete="off" spellcheck="false" required
        aria-describedby="token-help" value=${token} onInput=${(event) => setToken(event.currentTarget.value)} />
      <p id="token-help" class="help">A token with <code>feature_flag:manage</code> (and <code>approve</code> or <code>killswitch</code> for those pages). It is kept in this tab only and forgotten when the tab closes.</p>
      <button type="submit">Sign in</button>
    </form>
  </main>`;
}
