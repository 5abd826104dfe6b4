// `npm run bench:audit`: what signing costs each audited write (one Ed25519 signature of the entry's
// hash, beside the entry's own INSERT and one more for the signature), and what checking a signature
// costs verify per entry, next to the SHA-256 the chain already computes for scale.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bench, do_not_optimize, run } from 'mitata';
import { loadAuditSigner } from '../src/data/audit-signer.ts';

const keyDir = mkdtempSync(join(tmpdir(), 'bench-audit-'));
const signer = loadAuditSigner({ dataDir: keyDir });
const hash = createHash('sha256').update('an audit entry').digest('hex');
const signature = signer.signEntry(1, hash);
let id = 0;

bench('sha-256 of an entry-sized text (the chain, for scale)', () => do_not_optimize(createHash('sha256').update('x'.repeat(600)).digest('hex')));
bench('sign an entry (each audited write)', () => do_not_optimize(signer.signEntry(id++, hash)));
bench('verify an entry\'s signature (verify, per entry)', () => do_not_optimize(signer.verifyEntry(1, hash, signature)));

await run();
rmSync(keyDir, { recursive: true, force: true });
