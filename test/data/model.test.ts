// The backing services' constructs and resolved model: defaults, the `calls` edges, the connection
// variables per target, and the construction and cross-object errors.
import { Construct } from 'constructs';
import { App, ComposeNetworkMode, ContainerImage, Cpu, MicroService, Postgres, PyfleetValidationError, Redis, RedisEvictionPolicy, RedisMode, Size, Stack } from '../../lib';

const image = ContainerImage.fromRegistry('registry.example.com/app:1.0.0');

function program(mode = ComposeNetworkMode.BRIDGE) {
  const app = new App({ outdir: '/nonexistent/pyfleet-model-test' });
  const stack = new Stack(app, 'shop', { namespace: 'shop', compose: { networkMode: mode } });
  const db = new Postgres(stack, 'orders-db', { storage: Size.gibibytes(10) });
  const cache = new Redis(stack, 'cache', { maxMemory: Size.mebibytes(128) });
  const users = new MicroService(stack, 'user-service', { image, port: 8001, replicas: 1, calls: [cache] });
  new MicroService(stack, 'order-service', { image, port: 8002, replicas: 1, calls: [users, db, cache] });
  return { app, stack, db, cache };
}

describe('the resolved model of backing services', () => {
  test('defaults: pinned official images, the image user, volume, secret, resources, health command', () => {
    const { app } = program();
    const m = app.synthesize()[0].model;
    const db = m.dataStore('orders-db');
    expect(db).toMatchObject({ kind: 'postgres', image: 'postgres:17.2-bookworm', port: 5432, portName: 'postgres', storageBytes: 10 * 1024 ** 3, runAsUser: 999, user: 'orders_db', database: 'orders_db' });
    expect(db.secret).toEqual({ name: 'orders-db-credentials', key: 'password', shellVariable: 'ORDERS_DB_CREDENTIALS_PASSWORD' });
    expect(db.resources).toEqual({ cpuLimitMillis: 1000, cpuRequestMillis: 1000, memoryLimitMiB: 512, memoryRequestMiB: 512 });
    expect(db.health.command).toEqual(['pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'orders_db', '-d', 'orders_db']);
    expect(db.callers).toEqual(['order-service']);
    const cache = m.dataStore('cache');
    expect(cache).toMatchObject({ kind: 'redis', image: 'redis:7.4.1-bookworm', port: 6379, storageBytes: undefined, redisMode: 'cache', maxMemoryBytes: 128 * 1024 ** 2, maxMemoryPolicy: 'allkeys-lru', database: '0' });
    expect(cache.args).toEqual(['redis-server', '--port', '6379', '--requirepass', '$(REDIS_PASSWORD)', '--dir', '/data', '--save', '', '--appendonly', 'no', '--maxmemory', '128mb', '--maxmemory-policy', 'allkeys-lru']);
    expect(cache.callers).toEqual(['user-service', 'order-service']);
    expect(m.service('order-service').calls).toEqual(['user-service']);
    expect(m.service('order-service').stores).toEqual(['orders-db', 'cache']);
    expect(Object.isFrozen(db.connection.kubernetes)).toBe(true);
  });

  test('connection variables: parts, then the password, then the URL built around it, per target', () => {
    const k = program().app.synthesize()[0].model.dataStore('orders-db').connection.kubernetes;
    expect(k).toEqual([
      { name: 'ORDERS_DB_HOST', value: 'orders-db.shop.svc.cluster.local' },
      { name: 'ORDERS_DB_PORT', value: '5432' },
      { name: 'ORDERS_DB_USER', value: 'orders_db' },
      { name: 'ORDERS_DB_DB', value: 'orders_db' },
      { name: 'ORDERS_DB_PASSWORD', password: true },
      { name: 'ORDERS_DB_URL', url: { before: 'postgresql://orders_db:', after: '@orders-db.shop.svc.cluster.local:5432/orders_db' } },
    ]);
    expect(program().app.synthesize()[0].model.dataStore('cache').connection.compose.map((v) => v.name)).toEqual(['CACHE_HOST', 'CACHE_PORT', 'CACHE_DB', 'CACHE_PASSWORD', 'CACHE_URL']);
    expect(program().app.synthesize()[0].model.dataStore('cache').connection.compose.find((v) => v.url)!.url).toEqual({ before: 'redis://:', after: '@cache:6379/0' });
    const host = program(ComposeNetworkMode.HOST).app.synthesize()[0].model.dataStore('orders-db');
    expect(host.addresses.compose).toEqual({ host: '127.0.0.1', port: 5432 });
    expect(host.loopbackArgs).toEqual(['-c', 'listen_addresses=127.0.0.1']);
  });

  test('Redis as a store: append-only file on a volume, no eviction; maxMemory defaults for a cache', () => {
    const app = new App({ outdir: '/nonexistent/x' });
    const stack = new Stack(app, 's');
    const store = new Redis(stack, 'queue', { mode: RedisMode.STORE, memory: Size.mebibytes(512) });
    expect(store.storage!.bytes).toBe(1024 ** 3);
    expect(store.maxMemory).toBeUndefined();
    expect(store.evictionPolicy).toBe(RedisEvictionPolicy.NOEVICTION);
    expect(store._engine().args).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--appendfsync', 'everysec']));
    expect(new Redis(stack, 'c2')._engine().args).toEqual(expect.arrayContaining(['--maxmemory', '192mb']));
  });

  test('construction errors name the path and the fix', () => {
    const stack = new Stack(new App({ outdir: '/nonexistent/x' }), 's');
    expect(() => new Redis(stack, 'c', { memory: Size.mebibytes(256), maxMemory: Size.mebibytes(300) })).toThrow(/s\/c: maxMemory 300Mi is not below the container's memory limit 256Mi.*Fix: give maxMemory at most/);
    expect(() => new Redis(stack, 'c3', { storage: Size.gibibytes(1) })).toThrow(/storage was given for a Redis cache/);
    expect(() => new Postgres(stack, 'p1', { storage: Size.bytes(1000) })).toThrow(/not a whole number of MiB/);
    expect(() => new Postgres(stack, 'p2', { storage: Size.gibibytes(70000) })).toThrow(/above 64Ti/);
    expect(() => new Postgres(stack, 'p3', { version: 'latest' })).toThrow(/not a pinned version/);
    expect(() => new Postgres(stack, 'p4', { user: 'Bad-User' })).toThrow(/not a plain PostgreSQL identifier/);
    expect(() => new Postgres(stack, 'p5', { settings: { listen_addresses: '*' } })).toThrow(/pyfleet sets for each target/);
    expect(() => new Redis(stack, 'r6', { settings: { maxmemory: '1gb' } })).toThrow(/sets maxmemory/);
    expect(() => new Postgres(stack, 'p7', { cpu: Cpu.millis(1) })).toThrow(/below the 0.01 CPU/);
    new Postgres(stack, 'dup');
    expect(() => new Redis(stack, 'dup')).toThrow(/already has a service or backing service named "dup"/);
  });

  test('a call to a store of another stack, a store named like a service, an injected variable set by hand: reported together at synth', () => {
    const app = new App({ outdir: '/nonexistent/x' });
    const a = new Stack(app, 'a');
    const b = new Stack(app, 'b');
    const db = new Postgres(b, 'db');
    new MicroService(a, 'api', { image, replicas: 1, calls: [db] });
    new Postgres(a, 'web');
    new MicroService(a, 'web2', { image, replicas: 1, calls: [new Redis(a, 'cache')], env: { CACHE_URL: 'redis://x' } });
    // A store inside a construct of its own shares the stack's names with the services.
    const c = new Stack(app, 'c');
    new Postgres(new Construct(c, 'data'), 'svc');
    new MicroService(c, 'svc', { image, replicas: 1 });
    let err: PyfleetValidationError | undefined;
    try { app.synth(); } catch (e) { err = e as PyfleetValidationError; }
    const messages = err!.errors.map((e) => e.message);
    expect(messages).toEqual(expect.arrayContaining([
      expect.stringMatching(/a\/api: calls the backing service "b\/db" of stack "b".*Fix: define "db" in stack "a"/),
      expect.stringMatching(/a\/web2\/v1: sets CACHE_URL itself/),
      expect.stringMatching(/c\/data\/svc: stack "c" also has a service named "svc"/),
    ]));
  });
});
