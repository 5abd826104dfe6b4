// The view layer: Preact with htm's tagged templates, so the console runs as written, with no build
// step. Text interpolated into a template is always set as text, never parsed as HTML.
import { h, render } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
export { render };
