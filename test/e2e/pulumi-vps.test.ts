// examples/vps for real: each service runs under gunicorn with the command of its Dockerfile and the
// environment DockerHostDeployment gives its container (service names mapped to loopback ports, as the
// Docker network's aliases would), and the containers' health check commands are run against them.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { App } from '../../lib';
import { DockerHostDeployment } from '../../lib/pulumi';
import { buildVps } from '../../examples/vps/main';
import { cleanup, tempDir } from '../pulumi/fixtures';
import { installMocks, ofType, settle } from '../pulumi/mocks';
import { freePort, get, start, Started, stopAll, waitForHttp } from '../support/process';
import { ensureVenv, havePython } from '../support/python';

// The shared test virtualenv (flask, gunicorn, ... from pip's local index), made on first use.
const maybe = havePython() ? describe : describe.skip;
let bin = '';
const examples = path.join(__dirname, '..', '..', 'examples', 'vps');

afterAll(async () => {
  await stopAll();
  cleanup();
});

/** The Dockerfile's exec-form CMD. */
function dockerCmd(dir: string): string[] {
  const line = fs.readFileSync(path.join(dir, 'Dockerfile'), 'utf8').split('\n').find((l) => l.startsWith('CMD '))!;
  return JSON.parse(line.slice(4));
}

maybe('examples/vps services under gunicorn, configured as DockerHostDeployment configures their containers', () => {
  const procs: Record<string, Started> = {};
  const ports: Record<string, number> = {};
  let containers: Map<string, any>;

  beforeAll(async () => {
    bin = ensureVenv();
    await installMocks('pyfleet-vps', 'e2e');
    const app = new App({ outdir: tempDir('pyfleet-pulumi-e2e-') });
    const d = new DockerHostDeployment('vps', { stack: buildVps(app), host: 'ssh://deploy@203.0.113.7' });
    await settle(Object.values(d.containers).flat());
    // By container name; a version behind the gateway is named per release (vps-web-v1-<hash>-1): keyed without the hash.
    containers = new Map(ofType('docker:index/container:Container').map((c) => [String(c.inputs.name).replace(/-[0-9a-f]{12}-(\d+)$/, '-$1'), c.inputs]));
    for (const svc of ['quotes', 'web']) ports[svc] = await freePort();
  });

  afterAll(async () => {
    for (const p of Object.values(procs)) await p.stop('SIGTERM', 15_000);
  });

  /** Container env with service addresses (Docker network aliases) mapped to loopback ports. */
  function envOf(container: any): Record<string, string> {
    const env: Record<string, string> = {};
    for (const e of container.envs ?? []) {
      const i = e.indexOf('=');
      let v = e.slice(i + 1);
      for (const [svc, port] of Object.entries(ports)) v = v.replace(new RegExp(`^http://${svc}:\\d+`), `http://127.0.0.1:${port}`);
      env[e.slice(0, i)] = v;
    }
    return env;
  }

  async function startService(svc: string, container: any): Promise<void> {
    const dir = path.join(examples, 'services', svc);
    const [cmd, ...args] = dockerCmd(dir);
    expect(cmd).toBe('gunicorn');
    const bindAt = args.indexOf('--bind');
    args[bindAt + 1] = `127.0.0.1:${ports[svc]}`;
    procs[svc] = start(path.join(bin, 'gunicorn'), args, { cwd: dir, env: { PATH: process.env.PATH, PYTHONDONTWRITEBYTECODE: '1', ...envOf(container) } as any });
    await waitForHttp(`http://127.0.0.1:${ports[svc]}/healthz`, 30_000, procs[svc]);
  }

  /** Runs a container's health check command on this machine, aimed at the service's loopback port. */
  function healthy(container: any, svc: string, containerPort: number): boolean {
    const [kind, ...cmd] = container.healthcheck.tests as string[];
    expect(kind).toBe('CMD-SHELL');
    const script = cmd.join(' ').split(`127.0.0.1:${containerPort}`).join(`127.0.0.1:${ports[svc]}`);
    try {
      execFileSync('sh', ['-c', script], { stdio: 'pipe', timeout: 15_000, env: { PATH: `${bin}:${process.env.PATH}` } });
      return true;
    } catch {
      return false;
    }
  }

  test('the callee starts and its container health check passes', async () => {
    const quotes = containers.get('vps-quotes-1');
    expect(quotes.healthcheck.tests[1]).toContain('127.0.0.1:8002/healthz');
    expect(healthy(quotes, 'quotes', 8002)).toBe(false); // not running yet: the check can fail
    await startService('quotes', quotes);
    expect(healthy(quotes, 'quotes', 8002)).toBe(true);
  });

  test('the caller reaches the callee through the injected QUOTES_URL', async () => {
    const web = containers.get('vps-web-v1-1');
    expect(web.envs).toEqual(['QUOTES_URL=http://quotes:8002']);
    await startService('web', web);
    expect(healthy(web, 'web', 8001)).toBe(true);
    const r = await get(`http://127.0.0.1:${ports.web}/`);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body);
    expect(body.message).toBe('hello from pyfleet');
    expect(typeof body.quote).toBe('string');
    expect(body.quote.length).toBeGreaterThan(5);
  });

  test('gunicorn stops gracefully on SIGTERM within the container stop timeout', async () => {
    const web = containers.get('vps-web-v1-1');
    const r = await procs.web.stop('SIGTERM', web.stopTimeout * 1000);
    delete procs.web;
    expect(r.killed).toBe(false);
    expect(r.elapsedMs).toBeLessThan(web.stopTimeout * 1000);
  });
});
