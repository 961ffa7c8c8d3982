import { PASSWORD_PLACEHOLDER } from '../../data/resolve';

/**
 * Python run at the start of a generated app (the top of gunicorn.conf.py, so in the master before any
 * worker forks, and again in pyfleet_app.py before the user's app is imported), for services that call
 * a backing service with `compose: { passwordFile }`: for every `<NAME>_PASSWORD_FILE` beside a
 * `<NAME>_URL_TEMPLATE` (what compose injects then), it reads the mounted secret and sets
 * `<NAME>_PASSWORD` and `<NAME>_URL` (the template with the percent-encoded password) in the process
 * environment, unless they are set already. On Kubernetes neither variable exists and it does nothing.
 */
export function passwordFilesPython(): string {
  return `
# Backing services whose password compose mounts as a secret file (compose: { passwordFile }): build
# <NAME>_PASSWORD and <NAME>_URL from <NAME>_PASSWORD_FILE and <NAME>_URL_TEMPLATE before the app is
# imported, so that the app reads ORDERS_DB_URL as on every other target. No container config holds them.
def _pyfleet_password_files():
    import os as _os
    import urllib.parse as _parse

    for key in sorted(_os.environ):
        if not key.endswith("_PASSWORD_FILE"):
            continue
        prefix = key[: -len("_PASSWORD_FILE")]
        template = _os.environ.get(prefix + "_URL_TEMPLATE")
        if template is None:
            continue
        with open(_os.environ[key], encoding="utf-8") as f:
            password = f.read().rstrip("\\r\\n")
        _os.environ.setdefault(prefix + "_PASSWORD", password)
        _os.environ.setdefault(prefix + "_URL", template.replace(${JSON.stringify(PASSWORD_PLACEHOLDER)}, _parse.quote(password, safe="")))


_pyfleet_password_files()
`;
}
