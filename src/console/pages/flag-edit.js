// Editing a flag: the common fields in a form, the structured ones (rules, prerequisites, variants)
// as JSON beside them, or the whole definition as JSON; then the diff, then the save.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { html } from '../html.js';
import { ChangeEditor, JsonField } from '../components/change-editor.js';
import { ErrorMessage, useLoad } from '../components/common.js';
import { ValueField } from '../components/value-field.js';

const SERVICE_FIELDS = ['state', 'version', 'createdAt', 'updatedAt', 'createdBy', 'updatedBy'];

/** What a client may write back: the flag without what the service owns. */
export function flagDefinition(flag) {
  return Object.fromEntries(Object.entries(flag).filter(([field]) => !SERVICE_FIELDS.includes(field)));
}

function without(object, field) {
  const { [field]: _removed, ...rest } = object;
  return rest;
}

function lines(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean);
}

function FlagForm({ draft, onDraft, onProblem }) {
  const set = (field) => (value) => onDraft(value === undefined ? without(draft, field) : { ...draft, [field]: value });
  const rollout = draft.rollout;
  const percentageRollout = rollout === undefined || 'percentage' in rollout;
  return html`<div class="form-grid">
    <div class="field wide"><label for="f-description">Description</label>
      <textarea id="f-description" rows="2" value=${draft.description ?? ''} onInput=${(event) => onDraft({ ...draft, description: event.currentTarget.value })}></textarea></div>
    <div class="field"><label for="f-tags">Tags</label>
      <input id="f-tags" value=${(draft.tags ?? []).join(', ')} aria-describedby="f-tags-help"
        onInput=${(event) => onDraft({ ...draft, tags: event.currentTarget.value.split(',').map((tag) => tag.trim()).filter(Boolean) })} />
      <p id="f-tags-help" class="help">Separated by commas.</p></div>
    <div class="field"><label class="inline"><input id="f-enabled" type="checkbox" checked=${draft.enabled !== false}
      onChange=${(event) => onDraft({ ...draft, enabled: event.currentTarget.checked })} /> Enabled (off: everyone gets the off value)</label></div>
    <${ValueField} id="f-default" label="Default value" type=${draft.type} value=${draft.defaultValue} onChange=${set('defaultValue')} onProblem=${onProblem} />
    <${ValueField} id="f-on" label="On value" type=${draft.type} value=${draft.onValue} optional help="For the allowlist and the in-rollout share." onChange=${set('onValue')} onProblem=${onProblem} />
    <${ValueField} id="f-off" label="Off value" type=${draft.type} value=${draft.offValue} optional help="When off, killed, denied or a prerequisite fails; unset: the default value." onChange=${set('offValue')} onProblem=${onProblem} />
    ${percentageRollout
      ? html`<div class="field"><label for="f-percentage">Rollout percentage</label>
          <input id="f-percentage" type="number" min="0" max="100" step="0.001" value=${rollout?.percentage ?? ''} aria-describedby="f-percentage-help"
            onInput=${(event) => {
              const text = event.currentTarget.value;
              onDraft(text === '' ? without(draft, 'rollout') : { ...draft, rollout: { ...(rollout ?? {}), percentage: Number(text) } });
            }} />
          <p id="f-percentage-help" class="help">Empty: no rollout step. A running rollout plan owns this field.</p></div>
        <div class="field"><label for="f-bucket">Bucket by</label>
          <input id="f-bucket" value=${rollout?.bucketBy ?? ''} disabled=${!rollout} placeholder="userId"
            onInput=${(event) => {
              const text = event.currentTarget.value.trim();
              onDraft({ ...draft, rollout: text ? { ...rollout, bucketBy: text } : without(rollout, 'bucketBy') });
            }} /></div>`
      : html`<${JsonField} id="f-rollout" label="Rollout (a distribution)" value=${rollout} rows=${4} onChange=${set('rollout')} onProblem=${onProblem} />`}
    <div class="field"><label for="f-killswitch">Killswitch category</label>
      <input id="f-killswitch" value=${draft.killswitch ?? ''} onInput=${(event) => set('killswitch')(event.currentTarget.value.trim() || undefined)} /></div>
    <div class="field"><label class="inline"><input id="f-high-impact" type="checkbox" checked=${draft.highImpact === true}
      onChange=${(event) => onDraft({ ...draft, highImpact: event.currentTarget.checked })} /> High-impact (changes need a second person)</label></div>
    <div class="field"><label for="f-allowlist">Allowlist</label>
      <textarea id="f-allowlist" rows="3" aria-describedby="f-allowlist-help" value=${(draft.allowlist ?? []).join('\n')} onInput=${(event) => onDraft({ ...draft, allowlist: lines(event.currentTarget.value) })}></textarea>
      <p id="f-allowlist-help" class="help">One identity per line.</p></div>
    <div class="field"><label for="f-denylist">Denylist</label>
      <textarea id="f-denylist" rows="3" aria-describedby="f-denylist-help" value=${(draft.denylist ?? []).join('\n')} onInput=${(event) => onDraft({ ...draft, denylist: lines(event.currentTarget.value) })}></textarea>
      <p id="f-denylist-help" class="help">One identity per line.</p></div>
    <div class="wide"><${JsonField} id="f-rules" label="Rules (JSON, tried in order)" value=${draft.rules ?? []} rows=${10}
      help='Each { "id", "conditions": [...], "serve": { "value" | "variant" | "distribution" } }.' onChange=${(value) => onDraft({ ...draft, rules: value ?? [] })} onProblem=${onProblem} /></div>
    <${JsonField} id="f-prerequisites" label="Prerequisites (JSON)" value=${draft.prerequisites ?? []} rows=${4}
      help='Each { "flagKey", "value" }.' onChange=${(value) => onDraft({ ...draft, prerequisites: value ?? [] })} onProblem=${onProblem} />
    <${JsonField} id="f-variants" label="Variants (JSON)" value=${draft.variants ?? {}} rows=${4}
      help='{ "name": value, … }' onChange=${(value) => onDraft({ ...draft, variants: value ?? {} })} onProblem=${onProblem} />
  </div>`;
}

export function FlagEditPage({ flagKey }) {
  const path = `/v1/flags/${encodeURIComponent(flagKey)}`;
  const flag = useLoad((signal) => api('GET', path, { signal }), [flagKey]);
  const [saved, setSaved] = useState(null);
  useEffect(() => {
    document.title = `Edit ${flagKey} · Flagship`;
  }, [flagKey]);
  return html`<p class="crumbs"><a href="#/flags">Flags</a> › <a href=${`#/flags/${encodeURIComponent(flagKey)}`}>${flagKey}</a></p>
    <h1>Edit ${flagKey}</h1>
    <${ErrorMessage} error=${flag.error} title="Could not read the flag" />
    ${flag.data && html`<${ChangeEditor} key=${flagKey} resource=${flag.data} definitionOf=${flagDefinition} Form=${FlagForm} noun="flag"
      load=${() => api('GET', path)}
      save=${(patch, version) => api('PATCH', path, { body: patch, headers: { 'if-match': `"${version}"` } })}
      preview=${(patch, version) => api('PATCH', `${path}?dryRun=true`, { body: patch, headers: { 'if-match': `"${version}"` } })}
      onSaved=${setSaved} />`}
    ${saved && html`<p><a href=${`#/flags/${encodeURIComponent(flagKey)}`}>Back to ${flagKey}</a></p>`}`;
}
