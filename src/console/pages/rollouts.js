// Rollouts: running and paused plans with their steps and how far each landed from its target time,
// pause, resume and cancel, and the workflow in the Temporal UI.
import { useEffect, useState } from 'preact/hooks';
import { api, queryString } from '../api.js';
import { html } from '../html.js';
import { Dialog, ErrorMessage, relativeTime, TableWrap, Time, useLoad } from '../components/common.js';

const STATE_FILTERS = [
  ['', 'Scheduled, running and paused'],
  ['completed,cancelled,rolled_back,failed', 'Finished'],
];

function drift(ms) {
  if (ms === null || ms === undefined) return '—';
  return `${ms >= 0 ? '+' : '−'}${(Math.abs(ms) / 1000).toFixed(1)} s`;
}

function Steps({ rollout }) {
  return html`<${TableWrap} label=${`Steps of the rollout of ${rollout.flagKey}`}>
    <table>
      <caption>Steps</caption>
      <thead><tr><th scope="col">Step</th><th scope="col">Share</th><th scope="col">Planned</th><th scope="col">Due</th><th scope="col">Applied</th><th scope="col">Drift</th></tr></thead>
      <tbody>${rollout.steps.map((step) => html`<tr aria-current=${step.index === rollout.currentStep ? 'step' : undefined}>
        <th scope="row">${step.index + 1}${step.index === rollout.currentStep ? ' (current)' : ''}</th>
        <td>${step.percentage === null ? 'distribution' : `${step.percentage}%`}</td>
        <td><${Time} iso=${step.plannedAt} /></td>
        <td>${step.dueAt ? html`<${Time} iso=${step.dueAt} />` : '—'}</td>
        <td>${step.appliedAt ? html`<${Time} iso=${step.appliedAt} />` : '—'}</td>
        <td>${drift(step.driftMs)}</td>
      </tr>`)}</tbody>
    </table>
  <//>`;
}

function Controls({ rollout, onChanged }) {
  const [dialog, setDialog] = useState(null);
  const [reason, setReason] = useState('');
  const [rollback, setRollback] = useState(false);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const path = `/v1/flags/${encodeURIComponent(rollout.flagKey)}/rollout`;
  async function run(action) {
    setBusy(true);
    setError(null);
    try {
      const body = { ...(reason.trim() ? { reason: reason.trim() } : {}), ...(action === 'cancel' ? { rollback } : {}) };
      const changed = await api('POST', `${path}/${action}`, { body });
      setDialog(null);
      setReason('');
      onChanged(`${rollout.flagKey}: ${changed.state}`);
    } catch (apiError) {
      setError(apiError);
    } finally {
      setBusy(false);
    }
  }
  const active = ['scheduled', 'running', 'paused'].includes(rollout.state);
  if (!active) return null;
  const titles = { pause: 'Pause', resume: 'Resume', cancel: 'Cancel' };
  return html`<div class="actions">
      ${rollout.state === 'paused'
        ? html`<button type="button" onClick=${() => setDialog('resume')}>Resume…</button>`
        : html`<button type="button" onClick=${() => setDialog('pause')}>Pause…</button>`}
      <button type="button" class="danger" onClick=${() => setDialog('cancel')}>Cancel rollout…</button>
    </div>
    ${dialog && html`<${Dialog} title=${`${titles[dialog]} the rollout of ${rollout.flagKey}?`} onClose=${() => setDialog(null)}>
      <p>${dialog === 'pause' ? 'No further step is applied until it is resumed; the share stays where it is.'
        : dialog === 'resume' ? `Steps go on; steps that fell due meanwhile are handled as the plan says (${rollout.onResume}).`
        : 'The plan stops for good. The share stays where it is, unless you roll back.'}</p>
      <div class="field"><label for="rollout-reason">Reason (optional, recorded)</label>
        <textarea id="rollout-reason" rows="2" value=${reason} onInput=${(event) => setReason(event.currentTarget.value)}></textarea></div>
      ${dialog === 'cancel' && html`<div class="field"><label class="inline"><input type="checkbox" checked=${rollback} onChange=${(event) => setRollback(event.currentTarget.checked)} />
        Roll back to the rollout the flag had when the plan started (${rollout.startRollout ? JSON.stringify(rollout.startRollout) : 'none'})</label></div>`}
      <${ErrorMessage} error=${error} title="The API refused" />
      <div class="actions">
        <button type="button" class=${dialog === 'cancel' ? 'danger' : 'primary'} disabled=${busy} onClick=${() => run(dialog)}>${titles[dialog]}</button>
        <button type="button" onClick=${() => setDialog(null)}>Keep it as it is</button>
      </div>
    <//>`}`;
}

function Rollout({ rollout, onChanged }) {
  return html`<article class="card" aria-labelledby=${`rollout-${rollout.id}`}>
    <h2 id=${`rollout-${rollout.id}`}><a href=${`#/flags/${encodeURIComponent(rollout.flagKey)}`}>${rollout.flagKey}</a>
      <span class=${`badge ${rollout.state}`}>${rollout.state}</span></h2>
    <dl class="facts">
      <div><dt>Now</dt><dd>${rollout.percentage === null ? 'a distribution' : `${rollout.percentage}%`}</dd></div>
      <div><dt>Started by</dt><dd>${rollout.startedBy}${rollout.reason ? `: ${rollout.reason}` : ''}</dd></div>
      <div><dt>Next step</dt><dd>${rollout.nextStep ? html`step ${rollout.nextStep.index + 1}, <${Time} iso=${rollout.nextStep.at} /> (${relativeTime(rollout.nextStep.at)})` : '—'}</dd></div>
      ${rollout.pause && html`<div><dt>Paused</dt><dd>by ${rollout.pause.by} (${rollout.pause.cause}), <${Time} iso=${rollout.pause.at} />${rollout.pause.reason ? `: ${rollout.pause.reason}` : ''}</dd></div>`}
      ${rollout.endReason && html`<div><dt>Ended</dt><dd>${rollout.endReason}</dd></div>`}
    </dl>
    <${Steps} rollout=${rollout} />
    <p>${rollout.links?.temporalUi
      ? html`<a href=${rollout.links.temporalUi} target="_blank" rel="noopener noreferrer">Workflow <code>${rollout.workflowId}</code> in the Temporal UI</a>`
      : html`Workflow <code>${rollout.workflowId}</code> (no Temporal UI address is configured).`}</p>
    <${Controls} rollout=${rollout} onChanged=${onChanged} />
  </article>`;
}

export function RolloutsPage() {
  const [states, setStates] = useState('');
  const [notice, setNotice] = useState(null);
  const rollouts = useLoad((signal) => api('GET', `/v1/rollouts${queryString({ state: states })}`, { signal }), [states]);
  useEffect(() => {
    document.title = 'Rollouts · Flagship';
  }, []);
  const items = rollouts.data?.items ?? [];
  return html`<h1>Rollouts</h1>
    <div class="field"><label for="rollout-states">Show</label>
      <select id="rollout-states" value=${states} onChange=${(event) => setStates(event.currentTarget.value)}>
        ${STATE_FILTERS.map(([value, label]) => html`<option value=${value}>${label}</option>`)}
      </select></div>
    ${notice && html`<p class="message success" role="status">${notice}</p>`}
    <${ErrorMessage} error=${rollouts.error} title="Could not list rollouts" />
    ${rollouts.data && items.length === 0 && html`<p>No rollouts here.</p>`}
    ${items.map((rollout) => html`<${Rollout} key=${rollout.id} rollout=${rollout} onChanged=${(text) => { setNotice(text); rollouts.reload(); }} />`)}`;
}
