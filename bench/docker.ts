// Benchmark (not part of npm test): how fast the generated image rebuilds after a code-only change,
// against the common single-stage Dockerfile that copies the source before installing requirements.
// Side by side in one run, interleaved, under a private dockerd (classic builder), with pip's local
// index served on 127.0.0.1. Prints seconds, image sizes and the ratios (medians of the rounds).
// Needs root, docker.io and the stand-in base image's root filesystem: run `bash .ci/setup.d/40-docker.sh`.
// Usage: npx projen bench:docker [rounds]   (default 3 rounds, ~2 minutes)
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, Cpu, FastApiApp, Size, Stack } from '../lib';
import { Engine, haveDocker, importBase, localIndexDir, serveIndex, startEngine } from '../test/support/docker';

const ROUNDS = Number(process.argv[2] ?? 3);
const SOURCE = path.join(__dirname, '..', 'examples', 'shop', 'services', 'order');
const SCRATCH = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-bench-docker-'));
process.on('exit', () => fs.rmSync(SCRATCH, { recursive: true, force: true }));

/** The generated build context of order-service (Dockerfile, gunicorn.conf.py, .dockerignore, source). */
function generatedContext(): { dir: string; base: string } {
  const outdir = path.join(SCRATCH, 'synth');
  const app = new App({ outdir });
  const stack = new Stack(app, 'bench');
  new FastApiApp(stack, 'order-service', { source: SOURCE, port: 8002, cpu: Cpu.cores(1), memory: Size.mebibytes(512) });
  app.synth();
  const compose = yaml.load(fs.readFileSync(path.join(outdir, 'bench.compose.yml'), 'utf8')) as any;
  const dir = path.join(outdir, compose.services['order-service'].build.context);
  const base = /^FROM (\S+)/m.exec(fs.readFileSync(path.join(dir, 'Dockerfile'), 'utf8'))![1];
  return { dir, base };
}

/** The usual first Dockerfile: one stage, the whole source copied before the requirements are installed. */
function naiveContext(base: string): string {
  const dir = path.join(SCRATCH, 'naive');
  fs.cpSync(SOURCE, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'Dockerfile'), [
    `FROM ${base}`,
    'ARG PIP_INDEX_URL=https://pypi.org/simple',
    'WORKDIR /app',
    'COPY . .',
    'RUN python -m venv /opt/venv && /opt/venv/bin/pip install --index-url "${PIP_INDEX_URL}" -r requirements.txt',
    'ENV PATH=/opt/venv/bin:$PATH',
    'CMD ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "--bind", "0.0.0.0:8002", "app:app"]',
    '',
  ].join('\n'));
  return dir;
}

function build(engine: Engine, index: string, dir: string, tag: string, noCache: boolean): number {
  const t0 = process.hrtime.bigint();
  engine.docker(['build', ...(noCache ? ['--no-cache'] : []), '--network', 'host', '--build-arg', `PIP_INDEX_URL=${index}`, '-t', tag, dir], { timeout: 600_000 });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  if (!haveDocker()) throw new Error('dockerd, docker-compose or the base root filesystem is missing: run bash .ci/setup.d/40-docker.sh as root');
  const gen = generatedContext();
  const naive = naiveContext(gen.base);
  const engine = await startEngine();
  const index = await serveIndex(localIndexDir());
  try {
    importBase(engine, gen.base);
    const kinds = { generated: gen.dir, naive } as const;
    const times: Record<keyof typeof kinds, { cold: number[]; codeChange: number[] }> = { generated: { cold: [], codeChange: [] }, naive: { cold: [], codeChange: [] } };
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate which goes first, so neither always meets a warmer page cache.
      const order = (round % 2 === 1 ? ['generated', 'naive'] : ['naive', 'generated']) as (keyof typeof kinds)[];
      for (const kind of order) {
        const dir = kinds[kind];
        times[kind].cold.push(build(engine, index.url, dir, `bench/${kind}:cold`, true));
        fs.appendFileSync(path.join(dir, 'app.py'), `\n# code-only change ${round}\n`);
        times[kind].codeChange.push(build(engine, index.url, dir, `bench/${kind}:changed`, false));
      }
      process.stdout.write(`round ${round}/${ROUNDS}: generated cold ${times.generated.cold.at(-1)!.toFixed(1)} s, code change ${times.generated.codeChange.at(-1)!.toFixed(1)} s; ` +
        `naive cold ${times.naive.cold.at(-1)!.toFixed(1)} s, code change ${times.naive.codeChange.at(-1)!.toFixed(1)} s\n`);
    }
    const size = (tag: string): number => JSON.parse(engine.docker(['image', 'inspect', tag]))[0].Size / 2 ** 20;
    const g = { cold: median(times.generated.cold), change: median(times.generated.codeChange), size: size('bench/generated:changed') };
    const n = { cold: median(times.naive.cold), change: median(times.naive.codeChange), size: size('bench/naive:changed') };
    console.log(`\nmedians of ${ROUNDS} interleaved rounds (classic builder, local index on loopback):`);
    console.log('| Dockerfile | cold build | rebuild after a code-only change | image size |');
    console.log('| --- | --- | --- | --- |');
    console.log(`| generated (multi-stage, requirements first) | ${g.cold.toFixed(1)} s | ${g.change.toFixed(2)} s | ${g.size.toFixed(0)} MiB |`);
    console.log(`| naive (one stage, COPY . . first) | ${n.cold.toFixed(1)} s | ${n.change.toFixed(2)} s | ${n.size.toFixed(0)} MiB |`);
    console.log(`code-only rebuild: naive / generated = ${(n.change / g.change).toFixed(1)}x; cold: generated / naive = ${(g.cold / n.cold).toFixed(2)}; size: generated / naive = ${(g.size / n.size).toFixed(2)}`);
  } finally {
    await index.server.stop('SIGTERM', 5_000);
    await engine.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
