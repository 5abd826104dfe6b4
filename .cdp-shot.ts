// Temporary (not committed): screenshot a page over the DevTools protocol after it settles.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const [url, out, width = '1400', height = '900', waitMs = '8000'] = process.argv.slice(2);
const chrome = spawn('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  `--user-data-dir=${mkdtempSync(join(tmpdir(), 'cdp-'))}`, '--remote-debugging-port=39222', `--window-size=${width},${height}`, 'about:blank'], { stdio: 'ignore' });
let target: { webSocketDebuggerUrl: string } | undefined;
for (let i = 0; i < 100 && !target; i++) {
  await new Promise((r) => setTimeout(r, 200));
  try { target = ((await (await fetch('http://127.0.0.1:39222/json')).json()) as { type: string; webSocketDebuggerUrl: string }[]).find((t) => t.type === 'page'); } catch { /* not up yet */ }
}
const ws = new WebSocket(target!.webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener('open', r));
let id = 0;
const pending = new Map<number, (v: any) => void>();
ws.addEventListener('message', (e) => { const m = JSON.parse(String(e.data)); pending.get(m.id)?.(m.result); });
const send = (method: string, params: object = {}) => new Promise<any>((r) => { pending.set(++id, r); ws.send(JSON.stringify({ id, method, params })); });
await send('Emulation.setDeviceMetricsOverride', { width: Number(width), height: Number(height), deviceScaleFactor: 1, mobile: false });
await send('Page.navigate', { url });
await new Promise((r) => setTimeout(r, Number(waitMs)));
const shot = await send('Page.captureScreenshot', { format: 'png' });
writeFileSync(out!, Buffer.from(shot.data, 'base64'));
chrome.kill();
process.exit(0);
