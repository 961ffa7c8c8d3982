// Jest global teardown: removes the run's temporary directory (see global-setup.js).
const fs = require('fs');

module.exports = async () => {
  const dir = process.env.PYFLEET_JEST_TMPDIR;
  if (dir && /pyfleet-jest-/.test(dir)) fs.rmSync(dir, { recursive: true, force: true });
};
