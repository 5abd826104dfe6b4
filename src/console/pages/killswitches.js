// The killswitch panel for SREs: each category, its flags, engage or release with a reason that must
// be given, and before confirming, exactly what it will turn off (each flag and the value it will
// serve) and which running rollouts it will pause.
import { useEffect, useState } from 'preact/hooks';
import { api, hasScope } from '../api.js';
import { html } from '../html.js';
import { Dialog, ErrorMessage, Time, useLoad, Value } from '../components/common.js';

/** Flags whose off value the dialog looks up one by one; a larger category shows only their keys beyond it. */
const DETAILED_FLAGS = 50;

function offValue(flag) {
  return flag.offValue ?? flag.defaultValue;
}

async function consequences(category) {
  const [flags, rollouts] = await Promise.all([
    Promise.all(category.flags.slice(0, DETAILED_FLAGS).map((key) => api('GET', `/v1/flags/${encodeURIComponent(key)}`))),
    api('GET', '/v1/rollouts'),
  ]);
  return { flags, rollouts: rollouts.items.filter((rollout) => category.flags.includes(rollout.flagKey) && rollout.state !== 'paused') };
}

function Confirm({ category, action, onClose, onDone }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const effects = useLoad(() => consequences(category), [category.category]);
  const engage = action === 'engage';
  async function confirm(event) {
    event.preventDefault();
    if (!reason.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const result = await api('POST', `/v1/killswitches/${encodeURIComponent(category.category)}/${action}`, { body: { reason: reason.trim() } });
      onDone(result);
    } catch (apiError) {
      setError(apiError);
      setBusy(false);
    }
  }
  const count = category.flags.length;
  return html`<${Dialog} title=${`${engage ? 'Engage' : 'Release'} killswitch ${category.category}?`} onClose=${onClose}>
    <form onSubmit=${confirm}>
      <p>${engage
        ? `Engaging turns off ${count} flag${count === 1 ? '' : 's'} on every API process within a second and in the next snapshot: each serves its off value, reason off.`
        : `Releasing lets ${count} flag${count === 1 ? '' : 's'} evaluate normally again. Rollouts the engage paused stay paused: resume each on the Rollouts page.`}</p>
      <${ErrorMessage} error=${effects.error} title="Could not look up what it affects" />
      ${effects.data && html`<ul class="consequences" aria-label=${engage ? 'What it turns off' : 'What it turns back on'}>
        ${effects.data.flags.map((flag) => html`<li><a href=${`#/flags/${encodeURIComponent(flag.key)}`}>${flag.key}</a>${engage ? html` will serve <${Value} value=${offValue(flag)} />` : ''}</li>`)}
        ${count > DETAILED_FLAGS && html`<li>and ${count - DETAILED_FLAGS} more: ${category.flags.slice(DETAILED_FLAGS).join(', ')}</li>`}
      </ul>
      ${engage && effects.data.rollouts.length > 0 && html`<p>It pauses ${effects.data.rollouts.length} running rollout${effects.data.rollouts.length === 1 ? '' : 's'}: ${effects.data.rollouts.map((rollout) => rollout.flagKey).join(', ')}.</p>`}`}
      ${!effects.data && !effects.error && html`<p role="status">Looking up its flags…</p>`}
      <div class="field"><label for="killswitch-reason">Reason (required, recorded and announced)</label>
        <textarea id="killswitch-reason" rows="2" required value=${reason} onInput=${(event) => setReason(event.currentTarget.value)}></textarea></div>
      <${ErrorMessage} error=${error} title="The API refused" />
      <div class="actions">
        <button type="submit" class=${engage ? 'danger' : 'primary'} disabled=${busy || !reason.trim()}>${engage ? 'Engage' : 'Release'} ${category.category}</button>
        <button type="button" onClick=${onClose}>Cancel</button>
      </div>
    </form>
  <//>`;
}

function Category({ category, me, onChanged }) {
  const [action, setAction] = useState(null);
  const may = hasScope(me, 'feature_flag:killswitch');
  return html`<article class=${`card ${category.engaged ? 'engaged' : ''}`} aria-labelledby=${`category-${category.category}`}>
    <h2 id=${`category-${category.category}`}>${category.category} <span class=${`badge ${category.engaged ? 'engaged' : 'released'}`}>${category.engaged ? 'engaged' : 'released'}</span></h2>
    ${category.updatedAt && html`<p>${category.engaged ? 'Engaged' : 'Last changed'} by ${category.updatedBy}, <${Time} iso=${category.updatedAt} />${category.reason ? `: ${category.reason}` : ''}</p>`}
    <p>${category.flags.length === 0 ? 'No active flag is in this category.' : html`Flags: ${category.flags.map((key, index) => html`${index > 0 ? ', ' : ''}<a href=${`#/flags/${encodeURIComponent(key)}`}>${key}</a>`)}`}</p>
    ${may
      ? html`<div class="actions"><button type="button" class=${category.engaged ? 'primary' : 'danger'} onClick=${() => setAction(category.engaged ? 'release' : 'engage')}>${category.engaged ? 'Release…' : 'Engage…'}</button></div>`
      : html`<p class="help">Engaging needs a token with <code>feature_flag:killswitch</code>.</p>`}
    ${action && html`<${Confirm} category=${category} action=${action} onClose=${() => setAction(null)} onDone=${(result) => { setAction(null); onChanged(result); }} />`}
  </article>`;
}

export function KillswitchesPage({ me }) {
  const [notice, setNotice] = useState(null);
  const categories = useLoad((signal) => api('GET', '/v1/killswitches', { signal }), []);
  useEffect(() => {
    document.title = 'Killswitches · Flagship';
  }, []);
  function changed(result) {
    const paused = result.rollouts?.paused?.length ?? 0;
    setNotice(`${result.category} is ${result.engaged ? 'engaged' : 'released'}${paused ? `; ${paused} rollout${paused === 1 ? '' : 's'} paused` : ''}.`);
    categories.reload();
  }
  const items = categories.data?.items ?? [];
  return html`<h1>Killswitches</h1>
    <p>A category turns all its flags off at once, with no approval: the emergency path. Flags join a category through their killswitch field.</p>
    ${notice && html`<p class="message success" role="status">${notice}</p>`}
    <${ErrorMessage} error=${categories.error} title="Could not list killswitches" />
    ${categories.data && items.length === 0 && html`<p>No categories: no flag names one yet.</p>`}
    ${items.map((category) => html`<${Category} key=${category.category} category=${category} me=${me} onChanged=${changed} />`)}`;
}
