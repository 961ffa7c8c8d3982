import { JsonFile, javascript, typescript } from 'projen';

// Single source of truth for package.json, tsconfig*.json and the jest setup.
// Run `npx projen` after editing; never edit the generated files by hand.
const constructLibs = {
  'constructs': '10.8.1',
  'cdk8s': '2.70.106',
  'cdk8s-plus-27': '2.9.5',
};

// Peers of the separate `pyfleet/pulumi` entry point only (optional: cdk8s-only users install none).
// @pulumi/pulumi 3.249+ needs Node 22; @pulumi/docker 4+ has no install script that downloads a plugin.
const pulumiLibs = {
  '@pulumi/pulumi': '~3.248.0',
  '@pulumi/kubernetes': '^4.18.0',
  '@pulumi/docker': '^4.11.0',
  // Random passwords of the backing services' Secrets (KubernetesDeployment) and compose passwords (DockerHost).
  '@pulumi/random': '^4.21.0',
};

const project = new typescript.TypeScriptProject({
  name: 'pyfleet',
  description: 'Typed CDK-style constructs that ship Python web services as microservices: Dockerfiles, gunicorn configs, compose, Kubernetes and Istio.',
  license: 'Apache-2.0',
  copyrightOwner: 'pyfleet authors',
  authorName: 'pyfleet authors',
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  minNodeVersion: '20.0.0',

  // This repository's CI is .ci/run: no GitHub machinery of any kind.
  github: false,
  release: false,
  buildWorkflow: false,
  depsUpgrade: false,
  pullRequestTemplate: false,
  vscode: false,
  sampleCode: false,
  eslint: false,
  prettier: false,
  package: false,

  srcdir: 'lib',
  entrypoint: 'build/index.js',
  entrypointTypes: 'build/index.d.ts',
  libdir: 'build',
  testdir: 'test',
  typescriptVersion: '~5.9.3',
  tsconfig: {
    compilerOptions: {
      lib: ['es2022'],
      target: 'ES2022',
      skipLibCheck: true,
    },
  },
  tsconfigDev: {
    compilerOptions: { skipLibCheck: true },
  },

  jestOptions: {
    jestVersion: '^29',
    junitReporting: false,
    jestConfig: {
      testPathIgnorePatterns: ['/node_modules/', '/build/', '/examples/.*/dist/'],
      testTimeout: 120_000,
      collectCoverage: false,
      reporters: [new javascript.JestReporter('<rootDir>/test/support/summary-reporter.js')],
      globalSetup: '<rootDir>/test/support/global-setup.js',
      globalTeardown: '<rootDir>/test/support/global-teardown.js',
    },
  },

  // Construct libraries are peers (one copy in the user's tree), and dev deps for our own tests.
  peerDeps: ['constructs@^10.3.0', 'cdk8s@^2.68.11', 'cdk8s-plus-27@^2.9.0', ...Object.entries(pulumiLibs).map(([n, v]) => `${n}@${v}`)],
  peerDependencyOptions: { pinnedDevDependency: false },
  deps: ['js-yaml@^4.1.0', 'cron-parser@^5.4.0'],
  devDeps: [
    ...Object.entries(constructLibs).map(([n, v]) => `${n}@${v}`),
    '@types/js-yaml@^4',
    'cdk8s-cli@2.207.60',
    'kubernetes-models@4.5.1',
    'dclint@3.1.0',
    'ajv@^8.17.1',
    'ts-node@^10',
    // The `pyfleet/pulumi` entry point's peers, installed here for its tests (mocks; no CLI or plugin).
    ...Object.entries(pulumiLibs).map(([n, v]) => `${n}@${v}`),
    // Dockerfile checks of the generated images (pure JS, offline): validator, AST, linter, .dockerignore matcher.
    'dockerfile-utils@0.16.3',
    'dockerfile-ast@0.7.1',
    'dockerfilelint@1.8.0',
    '@balena/dockerignore@1.0.2',
    // API reference from the doc comments (`npx projen docs`); 0.28.x accepts TypeScript 5.0-6.0.
    'typedoc@^0.28.20',
    // The topology pictures: Mermaid's own parser (11.x: 12 needs Node 22), run in Node over a jsdom
    // window (its sanitizer needs a DOM), and its browser bundle drawn by Debian's headless Chromium.
    'mermaid@11.17.2',
    'jsdom@26.1.0',
    // Docker's embedded DNS played on loopback (test/e2e/gateway-release-dns.test.ts): DNS messages encoded and decoded.
    'dns-packet@5.6.1',
    '@types/dns-packet@5.6.5',
  ],
  // `npx pyfleet graph`: the topology of a synthesized outdir (or of the program, run first) as text.
  bin: { pyfleet: 'build/cli.js' },
  gitignore: ['__pycache__/', '*.pyc', '/dist', 'examples/**/dist/', '*.tmp-pyfleet*', '/bench/out/', '/.istio-crds.filtered.yaml', '/docs/api/'],
});

// Two entry points: `pyfleet` (constructs and renderers) and `pyfleet/pulumi` (Pulumi components).
project.package.addField('exports', {
  '.': { types: './build/index.d.ts', default: './build/index.js' },
  './pulumi': { types: './build/pulumi/index.d.ts', default: './build/pulumi/index.js' },
  './package.json': './package.json',
});
project.package.addField('peerDependenciesMeta', Object.fromEntries(Object.keys(pulumiLibs).map((n) => [n, { optional: true }])));

// Examples and benchmarks are type-checked like user programs (ts-node picks this file up from their folders).
for (const dir of ['examples', 'bench']) {
  new JsonFile(project, `${dir}/tsconfig.json`, {
    obj: {
      extends: '../tsconfig.json',
      compilerOptions: { rootDir: '..', noEmit: true, noUnusedLocals: false },
      include: ['**/*.ts', '../lib/**/*.ts'],
      exclude: ['**/dist/**', '**/node_modules/**'],
    },
  });
}

project.addTask('shop', {
  description: 'Synthesize examples/shop and print what was written',
  exec: 'ts-node --project examples/tsconfig.json examples/shop/main.ts',
});
project.addTask('canary', {
  description: 'Synthesize examples/canary (MeshRoute + CircuitBreaker: Istio and the compose gateway) and print what was written',
  exec: 'ts-node --project examples/tsconfig.json examples/canary/main.ts',
});
project.addTask('bench:mesh', {
  description: 'Mesh benchmarks: synth cost of routes and breakers, and gateway proxy overhead (needs haproxy)',
  exec: 'ts-node --project bench/tsconfig.json bench/mesh.ts',
});
project.addTask('bench:gunicorn', {
  description: 'Benchmarks (not part of npm test): wrk against gunicorn under the generated config, its defaults and the best hand-picked settings',
  exec: 'ts-node --project bench/tsconfig.json bench/gunicorn.ts',
});
project.addTask('bench:metrics', {
  description: 'Benchmark: requests per second of the generated Flask app under gunicorn (2 CPUs) with and without metrics, interleaved, with wrk; prints the overhead (target < 5%)',
  exec: 'ts-node --project bench/tsconfig.json bench/metrics.ts',
});
project.addTask('bench:docker', {
  description: 'Benchmark: rebuild time after a code-only change, generated Dockerfile vs a naive one, under a private dockerd (root; bash .ci/setup.d/40-docker.sh first)',
  exec: 'ts-node --project bench/tsconfig.json bench/docker.ts',
  receiveArgs: true,
});
const typecheck = project.addTask('typecheck', {
  description: 'Type-check the library, tests, examples and benchmarks',
  exec: 'tsc --noEmit -p tsconfig.json && tsc --noEmit -p test/tsconfig.json && tsc --noEmit -p examples/tsconfig.json && tsc --noEmit -p bench/tsconfig.json',
});

project.addTask('bench:release', {
  description: 'Release benchmark: failed requests and longest latency during a release, docker-compose up -d vs pyfleet deploy (needs root and the docker setup)',
  exec: 'ts-node --project bench/tsconfig.json bench/release.ts',
  receiveArgs: true,
});
project.addTask('bench:synth', {
  description: 'Benchmark (issue #9): synth of one stack of N FastApiApps against cdk8s-plus and a YAML floor, medians of fresh processes (args: sizes, --runs K, --dir DIR, --profile [N], --check)',
  exec: 'ts-node --project bench/tsconfig.json bench/synth.ts',
  receiveArgs: true,
});

// API reference of both entry points, configured in typedoc.json; an undocumented public symbol fails it.
const docs = project.addTask('docs', {
  description: 'Build the API reference into docs/api/ from the doc comments (fails on any undocumented public symbol)',
  exec: 'typedoc --options typedoc.json',
});

// `npm test` type-checks examples and benchmarks too, builds the API reference (missing docs fail it), and never rewrites snapshots in CI.
project.testTask.reset();
project.testTask.spawn(typecheck);
project.testTask.spawn(docs);
project.testTask.exec('jest --ci', { receiveArgs: true });

project.synth();
