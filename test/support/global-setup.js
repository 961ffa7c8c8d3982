// Jest global setup: every temporary file and directory the tests make (os.tmpdir(), mkdtemp) goes
// under one directory of this run, which global-teardown.js removes; a run leaves nothing in /tmp.
// Workers start after this and inherit TMPDIR.
const fs = require('fs');
const os = require('os');
const path = require('path');

module.exports = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-jest-'));
  process.env.PYFLEET_JEST_TMPDIR = dir;
  process.env.TMPDIR = dir;
  // Every Kubernetes object any test renders is also serialized by the generated toJson and compared.
  process.env.PYFLEET_CHECK_SERIALIZER = '1';
};
