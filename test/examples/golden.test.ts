// The committed expectation of every example's output: the sha256 of each file it synthesizes. An
// optimisation (or any change) that alters a byte of the output fails here; a change that alters it on
// purpose regenerates the expectation with `UPDATE_GOLDEN=1 npx jest test/examples/golden.test.ts` and
// shows the new hashes in its diff.
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { synth } from '../support/synth';
import { EXAMPLES } from '../support/examples';

const examples = EXAMPLES;

test.each(examples)('examples/%s synthesizes exactly the committed output', (name, build) => {
  const out = synth((app) => { build(app); });
  try {
    const hashes: Record<string, string> = {};
    for (const [file, content] of [...out.files].sort(([a], [b]) => (a < b ? -1 : 1))) hashes[file] = createHash('sha256').update(content).digest('hex');
    const fixture = path.join(__dirname, '../fixtures/golden', `${name}.json`);
    if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(fixture, `${JSON.stringify(hashes, null, 2)}\n`);
    expect(hashes).toEqual(JSON.parse(fs.readFileSync(fixture, 'utf8')));
  } finally {
    out.cleanup();
  }
});
