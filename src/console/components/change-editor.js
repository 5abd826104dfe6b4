// Changing a flag or a segment with care: edit in a form (or the whole definition as JSON), review
// the diff, save against the version you started from. The API's answers become the next step:
// version_conflict → "someone changed this meanwhile", with both sides' changes and a way to re-apply
// yours; approval_required → the change request it became; validation_error → the fields named.
// Before saving, the review asks the API for a dry run of the same patch: warnings, and whom it moves.
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { applyPatch, diffJson, mergePatch } from '../diff.js';
import { DiffTable, ErrorMessage, Time } from './common.js';
import { Impact, Warnings } from './impact.js';

/** A JSON-valued field: keeps what is typed, hands on only what parses. `error` is what the API said about it. */
export function JsonField({ id, label, value, help, error, onChange, onProblem, rows = 6 }) {
  const [text, setText] = useState(() => (value === undefined ? '' : JSON.stringify(value, null, 2)));
  const [problem, setProblem] = useState(null);
  function input(event) {
    const next = event.currentTarget.value;
    setText(next);
    if (next.trim() === '') {
      setProblem(null);
      onProblem(id, null);
      onChange(undefined);
      return;
    }
    try {
      const parsed = JSON.parse(next);
      setProblem(null);
      onProblem(id, null);
      onChange(parsed);
    } catch (error) {
      setProblem(`Not valid JSON: ${error.message}`);
      onProblem(id, 'not valid JSON');
    }
  }
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <textarea id=${id} rows=${rows} spellcheck="false" value=${text} onInput=${input} aria-invalid=${problem || error ? 'true' : 'false'}
      aria-describedby=${`${id}-note`}></textarea>
    <p id=${`${id}-note`} class=${problem || error ? 'field-error' : 'help'}>${problem ?? error ?? help ?? ''}</p>
  </div>`;
}

function JsonMode({ draft, onDraft, onProblem }) {
  return html`<${JsonField} id="whole-json" label="The whole definition (JSON)" value=${draft} rows=${24}
    help="Every field the API accepts; what you remove is removed." onProblem=${onProblem}
    onChange=${(value) => {
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) onDraft(value);
      else onProblem('whole-json', 'must be a JSON object');
    }} />`;
}

/**
 * `resource` is what was loaded (it has `version`); `definitionOf` picks what can be edited; `Form`
 * edits a draft; `save(patch, version)`, `preview(patch, version)` (the dry run) and `load()` talk to
 * the API; `noun` names the thing.
 */
export function ChangeEditor({ resource, definitionOf, Form, save, preview, load, onSaved, noun }) {
  const [base, setBase] = useState(resource);
  const [draft, setDraft] = useState(() => definitionOf(resource));
  // Bumped when the draft is replaced as a whole, so fields that keep their own text start over.
  const [generation, setGeneration] = useState(0);
  const [mode, setMode] = useState('form');
  const [problems, setProblems] = useState({});
  const [stage, setStage] = useState('edit');
  const [error, setError] = useState(null);
  const [conflict, setConflict] = useState(null);
  const [outcome, setOutcome] = useState(null);
  const [busy, setBusy] = useState(false);
  const [dryRun, setDryRun] = useState(null);

  const baseDefinition = definitionOf(base);
  const diff = diffJson(baseDefinition, draft);

  // Each time the review opens, the API judges the very patch Save would send: warnings and impact.
  useEffect(() => {
    if (stage !== 'review' || !preview || diff.length === 0) return undefined;
    let current = true;
    setDryRun({ loading: true });
    preview(mergePatch(baseDefinition, draft), base.version).then(
      (answer) => current && setDryRun({ answer }),
      (apiError) => current && setDryRun({ error: apiError }),
    );
    return () => {
      current = false;
    };
  }, [stage, base.version]);
  const blocked = Object.values(problems).some(Boolean);
  const noteProblem = (id, problem) => setProblems((previous) => ({ ...previous, [id]: problem }));

  function replaceDraft(nextBase, nextDraft, nextStage) {
    setBase(nextBase);
    setDraft(nextDraft);
    setProblems({});
    setGeneration((value) => value + 1);
    setConflict(null);
    setError(null);
    setStage(nextStage);
  }

  async function submit() {
    setBusy(true);
    setError(null);
    try {
      const saved = await save(mergePatch(baseDefinition, draft), base.version);
      setOutcome({ kind: 'saved', version: saved.version });
      setStage('done');
      onSaved(saved);
    } catch (apiError) {
      if (apiError.code === 'version_conflict' && apiError.details?.currentVersion !== undefined) {
        setConflict({ current: await load() });
        setStage('conflict');
      } else if (apiError.code === 'approval_required') {
        setOutcome({ kind: 'approval', request: apiError.details, message: apiError.message });
        setStage('done');
      } else {
        setError(apiError);
      }
    } finally {
      setBusy(false);
    }
  }

  if (stage === 'done' && outcome.kind === 'saved') {
    return html`<div class="message success" role="status"><p>Saved: the ${noun} is now at version ${outcome.version}.</p></div>`;
  }
  if (stage === 'done') {
    const request = outcome.request;
    return html`<div class="message" role="status">
      <p><strong>A second person must approve this change.</strong> It became change request <code>${request.id}</code>,
        requested by ${request.requestedBy}, which expires <${Time} iso=${request.expiresAt} />.</p>
      <p><a href="#/approvals">Open the approvals inbox</a></p>
    </div>`;
  }
  if (stage === 'conflict') {
    const current = conflict.current;
    return html`<div class="conflict">
      <div class="message warning" role="alert">
        <p><strong>Someone changed this ${noun} meanwhile.</strong> You edited version ${base.version}; it is now at version ${current.version}${current.updatedBy ? `, changed by ${current.updatedBy}` : ''}${current.updatedAt ? html` at <${Time} iso=${current.updatedAt} />` : ''}. Nothing was saved.</p>
      </div>
      <${DiffTable} diff=${diffJson(baseDefinition, definitionOf(current))} caption=${`Their changes (version ${base.version} → ${current.version})`} />
      <${DiffTable} diff=${diff} caption="Your changes" />
      <div class="actions">
        <button type="button" onClick=${() => replaceDraft(current, applyPatch(definitionOf(current), mergePatch(baseDefinition, draft)), 'review')}>Apply my changes to version ${current.version}</button>
        <button type="button" onClick=${() => replaceDraft(current, definitionOf(current), 'edit')}>Discard mine and reload</button>
      </div>
    </div>`;
  }
  if (stage === 'review') {
    return html`<div class="review">
      <h2>Review the change</h2>
      <p>Saving changes version ${base.version} of the ${noun}; if someone saved since, nothing is written and you are told.</p>
      <${DiffTable} diff=${diff} caption=${`Changes to version ${base.version}`} />
      ${dryRun?.loading && html`<p class="help" role="status">Working out whom it moves…</p>`}
      ${dryRun?.error?.code === 'version_conflict' && html`<p class="help" role="status">Someone changed this ${noun} since you opened it: saving shows both sides and lets you re-apply yours.</p>`}
      ${dryRun?.error && dryRun.error.code !== 'version_conflict' && html`<${ErrorMessage} error=${dryRun.error} title="The dry run refused the change (saving would too)" />`}
      ${dryRun?.answer && html`<${Warnings} warnings=${dryRun.answer.warnings} />
        ${dryRun.answer.approvalRequired && html`<p class="message" role="status">Saving files a change request: ${dryRun.answer.approvalRequired.reason}.</p>`}
        <${Impact} impact=${dryRun.answer.impact} title="Who it moves, over the sampled contexts" />`}
      <${ErrorMessage} error=${error} title="The API refused the change" />
      <div class="actions">
        <button type="button" class="primary" disabled=${busy || diff.length === 0} onClick=${submit}>Save</button>
        <button type="button" onClick=${() => setStage('edit')}>Back to editing</button>
      </div>
    </div>`;
  }
  return html`<form class="editor" onSubmit=${(event) => {
    event.preventDefault();
    if (!blocked) setStage('review');
  }}>
    <fieldset class="mode">
      <legend>Edit as</legend>
      ${[['form', 'Form'], ['json', 'JSON']].map(([value, label]) => html`<label class="inline"><input type="radio" name="mode" value=${value}
        checked=${mode === value} disabled=${blocked && mode !== value} onChange=${() => { setMode(value); setGeneration((g) => g + 1); }} /> ${label}</label>`)}
    </fieldset>
    ${mode === 'form'
      ? html`<${Form} key=${generation} draft=${draft} onDraft=${setDraft} onProblem=${noteProblem} />`
      : html`<${JsonMode} key=${generation} draft=${draft} onDraft=${setDraft} onProblem=${noteProblem} />`}
    <p class="help">${diff.length === 0 ? 'No changes yet.' : `${diff.length} field${diff.length === 1 ? '' : 's'} changed.`}</p>
    <div class="actions"><button type="submit" class="primary" disabled=${blocked || diff.length === 0}>Review changes</button></div>
  </form>`;
}
