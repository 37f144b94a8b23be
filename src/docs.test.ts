import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { renderConfigReference } from './config/reference.js';
import { renderErrorReference } from './errors-reference.js';
import { ERRORS } from './errors.js';
import { renderJsonSchema, SCHEMA_FILE } from './config/json-schema.js';

describe('generated docs are in step with the code', () => {
  it('docs/config.md matches the schema (run `npm run docs` after changing it)', () => {
    assert.equal(readFileSync('docs/config.md', 'utf8'), renderConfigReference());
  });
  it('gateway.schema.json (shipped in the package) matches the schema (run `npm run docs`)', () => {
    assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), renderJsonSchema());
  });
  it('docs/errors.md lists every error code (run `npm run docs`)', () => {
    const text = readFileSync('docs/errors.md', 'utf8');
    assert.equal(text, renderErrorReference());
    for (const code of Object.keys(ERRORS)) assert.ok(text.includes(`\`${code}\``), code);
  });
});
