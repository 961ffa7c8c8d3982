import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import ignore from '@balena/dockerignore';
import { DockerfileParser, Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import * as dockerfilelint from 'dockerfilelint';
import { App, Cpu, FastApiApp, GunicornFlaskApp, Stack, WsgiWorkerClass } from '../../../lib';
import { imageAsset } from '../../../lib/service/asset';
import { BUILTIN_BUILD_GENERATORS } from '../../../lib/render/image';

const ROOT = path.join(__dirname, '..', '..', '..');
const USER = path.join(ROOT, 'examples', 'shop', 'services', 'user');
const FLASK = path.join(ROOT, 'examples', 'flask-gunicorn', 'app');
const INDEX = 'https://user:token@pypi.example.com/simple';

interface Generated { name: string; files: Record<string, string>; sourceFiles: readonly string[]; module: string; port: number }

function generated(): Generated[] {
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-out-')) });
  const s = new Stack(app, 'img');
  const svcs = [
    new FastApiApp(s, 'api', { source: USER, port: 8001 }),
    new FastApiApp(s, 'mirror', { source: USER, port: 8003, packageIndexUrl: INDEX, runAsUser: 20002 }),
    new GunicornFlaskApp(s, 'sync', { source: FLASK, port: 8000, workerClass: WsgiWorkerClass.SYNC }),
    new GunicornFlaskApp(s, 'threads', { source: FLASK, port: 8004, threads: 16, gunicornSettings: { forwarded_allow_ips: '*' } }),
  ];
  return svcs.map((svc) => {
    const asset = imageAsset(svc.image, BUILTIN_BUILD_GENERATORS);
    return { name: svc.serviceName, files: { ...asset.generated }, sourceFiles: asset.files, module: svc.module, port: svc.port };
  });
}

const ALL = generated();

function stages(dockerfile: string): Instruction[][] {
  const parsed = DockerfileParser.parse(dockerfile);
  const out: Instruction[][] = [];
  for (const i of parsed.getInstructions()) {
    if (i.getKeyword() === 'FROM') out.push([]);
    out[out.length - 1].push(i);
  }
  return out;
}

/** An instruction's arguments with its flags (`--from=builder ...`), continuation lines joined. */
const args = (i: Instruction): string => i.getTextContent().replace(/\\\r?\n\s*/g, ' ').slice(i.getKeyword().length).trim();

describe.each(ALL.map((g) => [g.name, g] as const))('generated image of %s', (_name, g) => {
  const dockerfile = g.files.Dockerfile;

  test('passes the Dockerfile validator (dockerfile-utils) with no finding at all', () => {
    expect(validate(dockerfile, {})).toEqual([]);
  });

  test('passes the Dockerfile linter (dockerfilelint)', () => {
    const findings = dockerfilelint.run(os.tmpdir(), dockerfile)
      // dockerfilelint 1.8 reads HEALTHCHECK options with /--\w+/, which cuts "--start-period" to
      // "--start" and calls it invalid although Docker documents it; nothing else is waived.
      .filter((f) => !(f.rule === 'invalid_format' && dockerfile.split('\n')[f.line - 1].startsWith('HEALTHCHECK ') && dockerfile.split('\n')[f.line - 1].includes('--start-period=')));
    expect(findings).toEqual([]);
  });

  test('two stages from the same pinned slim base; the runtime stage copies the builder\'s virtualenv', () => {
    const [builder, runtime, ...rest] = stages(dockerfile);
    expect(rest).toEqual([]);
    expect(args(builder[0])).toMatch(/^python:3\.\d+\.\d+-slim-bookworm AS builder$/);
    expect(args(runtime[0])).toBe(`${args(builder[0]).split(' ')[0]} AS runtime`);
    expect(runtime.map(args)).toContain('--from=builder /opt/venv /opt/venv');
  });

  test('requirements are installed before the source is copied, without a pip cache', () => {
    const [builder, runtime] = stages(dockerfile);
    const copies = builder.filter((i) => i.getKeyword() === 'COPY').map(args);
    expect(copies.length).toBeGreaterThan(0);
    expect(copies.every((c) => /^(pyfleet-)?requirements[\w./-]*\.txt (pyfleet-)?requirements[\w./-]*\.txt$/.test(c))).toBe(true);
    const pip = builder.filter((i) => i.getKeyword() === 'RUN' && args(i).includes('pip install'));
    expect(pip).toHaveLength(1);
    expect(args(pip[0])).toContain('--no-cache-dir');
    expect(args(pip[0])).toContain('-r requirements.txt');
    // Metrics are on by default: prometheus-client, pinned, from the generated requirements file, in the same install.
    expect(copies).toContain('pyfleet-requirements.txt pyfleet-requirements.txt');
    expect(args(pip[0])).toMatch(/-r requirements\.txt -r pyfleet-requirements\.txt$/);
    expect(g.files['pyfleet-requirements.txt'].split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(['prometheus-client==0.26.0']);
    expect(builder.indexOf(pip[0])).toBeGreaterThan(builder.findIndex((i) => i.getKeyword() === 'COPY'));
    // The source comes in after the dependencies, in the runtime stage.
    const kw = runtime.map((i) => `${i.getKeyword()} ${args(i)}`);
    expect(kw.indexOf('COPY . .')).toBeGreaterThan(kw.indexOf('COPY --from=builder /opt/venv /opt/venv'));
  });

  test('the package index is a build argument of the builder stage only: the final stage never references it', () => {
    const [builder, runtime] = stages(dockerfile);
    expect(builder.map((i) => `${i.getKeyword()} ${args(i)}`)).toContain('ARG PIP_INDEX_URL=https://pypi.org/simple');
    for (const i of runtime) {
      expect(`${i.getKeyword()} ${args(i)}`).not.toMatch(/PIP_INDEX_URL|index-url|pypi/i);
    }
    // Whatever URL the service was given, it is never written into any generated file.
    for (const content of Object.values(g.files)) expect(content).not.toContain('pypi.example.com');
  });

  test('runtime: env, fixed non-root user, labels, EXPOSE, HEALTHCHECK without curl, exec-form CMD', () => {
    const runtime = stages(dockerfile)[1];
    const get = (kw: string) => runtime.filter((i) => i.getKeyword() === kw).map(args);
    const env = get('ENV').join(' ');
    expect(env).toMatch(/PYTHONDONTWRITEBYTECODE=1/);
    expect(env).toMatch(/PYTHONUNBUFFERED=1/);
    const uid = g.name === 'mirror' ? 20002 : 10001;
    expect(get('USER')).toEqual([`${uid}:${uid}`]);
    expect(get('RUN').join('\n')).toContain(`useradd --system --uid ${uid}`);
    // USER comes before CMD and after every RUN: nothing at run time is root.
    const kws = runtime.map((i) => i.getKeyword());
    expect(kws.lastIndexOf('RUN')).toBeLessThan(kws.indexOf('USER'));
    expect(get('EXPOSE')).toEqual([`${g.port} 9100`]); // the HTTP port and the metrics port
    const labels = get('LABEL').join(' ');
    for (const l of ['org.opencontainers.image.title', 'org.opencontainers.image.description', 'org.opencontainers.image.base.name']) expect(labels).toContain(l);
    const hc = get('HEALTHCHECK');
    expect(hc).toHaveLength(1);
    expect(hc[0]).not.toMatch(/curl|wget/);
    const hcCmd = JSON.parse(hc[0].slice(hc[0].indexOf('CMD ') + 4));
    expect(hcCmd.slice(0, 2)).toEqual(['python', '-c']);
    expect(hcCmd[2]).toContain(`urlopen("http://127.0.0.1:%s" % (os.environ.get("PYFLEET_LISTEN_PORT") or "${g.port}") + "/healthz"`);
    const cmd = get('CMD');
    expect(cmd).toHaveLength(1);
    expect(JSON.parse(cmd[0])).toEqual(['gunicorn', '--config', '/app/gunicorn.conf.py']);
    expect(get('ENTRYPOINT')).toEqual([]);
  });

  test('.dockerignore excludes no file the image needs, but keeps secrets and caches out', () => {
    const ig = ignore().add(g.files['.dockerignore']);
    const needed = new Set<string>(['gunicorn.conf.py', `${g.module.split(':')[0].split('.').join('/')}.py`]);
    for (const stage of stages(dockerfile)) {
      for (const i of stage.filter((x) => x.getKeyword() === 'COPY' && !args(x).startsWith('--from'))) {
        const parts = args(i).split(/\s+/);
        for (const src of parts.slice(0, -1)) if (src !== '.') needed.add(src);
      }
    }
    for (const f of needed) expect(ig.ignores(f)).toBe(false);
    // Every staged source file and generated file except the build's own would be copied.
    for (const f of [...g.sourceFiles, 'gunicorn.conf.py']) expect(ig.ignores(f)).toBe(false);
    for (const f of ['.env', 'config/.env.production', '.git/HEAD', 'pkg/__pycache__/m.cpython-312.pyc', '.venv/bin/python', 'Dockerfile']) {
      expect(ig.ignores(f)).toBe(true);
    }
  });
});

describe('staged contexts', () => {
  function synthTo(dir: string, cpu = Cpu.cores(1)): string {
    const app = new App({ outdir: dir });
    const s = new Stack(app, 'det');
    new FastApiApp(s, 'api', { source: USER, cpu });
    new GunicornFlaskApp(s, 'web', { source: FLASK, workerClass: WsgiWorkerClass.SYNC });
    app.synth();
    return dir;
  }
  function readTree(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (rel: string): void => {
      for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
        const r = path.join(rel, e.name);
        if (e.isDirectory()) walk(r); else out[r] = fs.readFileSync(path.join(dir, r), 'utf8');
      }
    };
    walk('');
    return out;
  }

  test('two synths write byte-identical output; a CPU change does not change the image', () => {
    const a = readTree(synthTo(fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-a-'))));
    const b = readTree(synthTo(fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-b-'))));
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    for (const k of Object.keys(a)) expect(b[k]).toBe(a[k]);
    const contexts = Object.keys(a).filter((k) => k.endsWith('gunicorn.conf.py'));
    expect(contexts).toHaveLength(2);
    const c = readTree(synthTo(fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-c-')), Cpu.cores(3)));
    // Same contexts (the worker count travels as WEB_CONCURRENCY), different compose environment.
    expect(Object.keys(c).filter((k) => k.endsWith('gunicorn.conf.py'))).toEqual(contexts);
    expect(c['det.compose.yml']).not.toBe(a['det.compose.yml']);
    expect(c['det.compose.yml']).toMatch(/WEB_CONCURRENCY: '3'/);
  });

  test('a code change gives a new context and tag', () => {
    const src = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-src-'));
    for (const f of fs.readdirSync(USER)) fs.copyFileSync(path.join(USER, f), path.join(src, f));
    const tag = (): string => {
      const s = new Stack(new App({ outdir: os.tmpdir() }), 'h');
      return imageAsset(new FastApiApp(s, 'api', { source: src }).image, BUILTIN_BUILD_GENERATORS).tag;
    };
    const before = tag();
    expect(tag()).toBe(before);
    fs.appendFileSync(path.join(src, 'app.py'), '\n# changed\n');
    expect(tag()).not.toBe(before);
  });

  test('the generated files are written into the context beside the source', () => {
    const out = synthTo(fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-d-')));
    const ctxs = fs.readdirSync(path.join(out, 'assets'));
    expect(ctxs).toHaveLength(2);
    for (const ctx of ctxs) {
      const files = fs.readdirSync(path.join(out, 'assets', ctx)).sort();
      expect(files).toEqual(expect.arrayContaining(['.dockerignore', 'Dockerfile', 'app.py', 'gunicorn.conf.py', 'requirements.txt']));
    }
  });
});
