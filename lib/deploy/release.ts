import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { HostReleaseLabel, HostSlot, RELEASE_LABEL } from '../render/compose/host-gateway';
import { docker, releaseSpec, ReleaseSpec } from './container';
import { inMaintenance, RuntimeApi } from './runtime-api';

// `pyfleet deploy`: a release of the versions behind a host-mode gateway that drops no request. For
// each version whose compose service changed: start the new release in the version's free slot beside
// the running one, wait until Docker reports it healthy, put it into the gateway (weights step by step
// for a canary), drain the old release (no new requests, in-flight ones finish, bounded by its graceful
// shutdown time), then stop and remove it. A new release that never turns healthy is removed and the
// old one keeps serving. The engines: the generated compose file, the docker CLI, HAProxy's runtime API.

/** Labels of the containers a release starts (compose's own labels stay compose's). */
export const PROJECT_LABEL = 'io.pyfleet.project';
/** Label: the compose service a release container belongs to. */
export const SERVICE_LABEL = 'io.pyfleet.service';
/** Label: the content hash of the compose service definition the container runs. */
export const SPEC_LABEL = 'io.pyfleet.spec';

/** What to release and how. */
export interface DeployOptions {
  /** The generated compose file. */
  readonly file: string;
  /** Compose project name. Default: the file's `name`, else $COMPOSE_PROJECT_NAME, else its directory's name. */
  readonly project?: string;
  /** Services (pyfleet service names or compose service names) to release. Default: every one behind a host-mode gateway. */
  readonly services?: readonly string[];
  /** Share of the new release after each step, ending at 100. Default [100]. */
  readonly steps?: readonly number[];
  /** Pause between steps, during which the new release must stay up and healthy. Default 30 s. */
  readonly pauseMs?: number;
  /** Go back to the old release of a release in progress. */
  readonly abort?: boolean;
  /** Release even when the running container already runs this definition. */
  readonly force?: boolean;
  /** Extra `docker build --build-arg`s. */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** `docker build --network`. */
  readonly buildNetwork?: string;
  /** Environment of docker and of `${VAR}` references. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

/** Parses and checks `--steps`: increasing shares from 1 to 100, the last 100. */
export function parseSteps(text: string): number[] {
  const steps = text.split(',').map((s) => s.trim());
  const out: number[] = [];
  for (const s of steps) {
    if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 100) throw new Error(`--steps "${text}": "${s}" is not a share from 1 to 100 (percent of requests to the new release)`);
    const n = Number(s);
    if (out.length > 0 && n <= out[out.length - 1]) throw new Error(`--steps "${text}": the shares must increase (${out[out.length - 1]} then ${n})`);
    out.push(n);
  }
  if (out[out.length - 1] !== 100) throw new Error(`--steps "${text}" ends at ${out[out.length - 1]}, not 100: a release ends with every request on the new release; add 100 (e.g. --steps ${[...out, 100].join(',')}), or abort with --abort`);
  return out;
}

interface Running {
  readonly id: string;
  readonly name: string;
  readonly running: boolean;
  readonly created: string;
  readonly health?: string;
  readonly hash?: string;
  readonly slot?: HostSlot;
  readonly ours: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The compose project name as compose derives it. */
function projectName(o: DeployOptions, doc: any, env: NodeJS.ProcessEnv): string {
  const raw = o.project ?? (typeof doc.name === 'string' ? doc.name : undefined) ?? env.COMPOSE_PROJECT_NAME ?? path.basename(path.dirname(path.resolve(o.file)));
  return raw.toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

/** The compose services to release, with their release labels; clear errors for the others. */
function targets(doc: any, o: DeployOptions): Array<{ name: string; def: any; label: HostReleaseLabel }> {
  const services = (doc.services ?? {}) as Record<string, any>;
  const withLabel = (name: string) => ({ name, def: services[name], label: JSON.parse(services[name].labels[RELEASE_LABEL]) as HostReleaseLabel });
  const released = Object.keys(services).filter((n) => services[n]?.labels?.[RELEASE_LABEL] !== undefined).sort();
  if (o.services === undefined || o.services.length === 0) {
    if (released.length === 0) throw new Error(`${o.file} has no service behind a gateway in host network mode, which is what pyfleet deploy releases without dropping requests. ${noGatewayFix(Object.values(services))}`);
    return released.map(withLabel);
  }
  const out: Array<{ name: string; def: any; label: HostReleaseLabel }> = [];
  for (const want of o.services) {
    const names = Object.keys(services).filter((n) => n === want || services[n]?.labels?.app === want).sort();
    if (names.length === 0) throw new Error(`no service "${want}" in ${o.file} (it has ${Object.keys(services).sort().join(', ')})`);
    const released1 = names.filter((n) => released.includes(n));
    if (released1.length === 0) {
      throw new Error(`"${want}" is not behind a gateway in host network mode, so nothing can move its traffic while two releases run and a zero-downtime release is not possible. ${noGatewayFix(names.map((n) => services[n]))}`);
    }
    out.push(...released1.map(withLabel));
  }
  return out;
}

function noGatewayFix(defs: any[]): string {
  if (defs.some((d) => d?.network_mode !== 'host')) {
    return 'Fix: pyfleet deploy releases compose projects in host network mode (new Stack(app, "shop", { compose: { networkMode: ComposeNetworkMode.HOST } })); on a swarm (OVERLAY) `docker stack deploy` rolls start-first by itself';
  }
  return 'Fix: put the service behind a gateway (a CircuitBreaker, a MeshRoute or a second version gives it one), or release it with a gap: docker compose up -d <service>';
}

/** Releases (or, with `abort`, rolls back) every target service. Resolves when done; rejects with the reason. */
export async function deploy(o: DeployOptions): Promise<void> {
  const env = o.env ?? process.env;
  const log = o.log ?? (() => undefined);
  if (!fs.existsSync(o.file)) throw new Error(`${o.file} does not exist: synthesize first (run your program, or cdk8s synth)`);
  const doc = yaml.load(fs.readFileSync(o.file, 'utf8')) as any;
  if (!doc || typeof doc !== 'object' || !doc.services) throw new Error(`${o.file} is not a compose file`);
  const project = projectName(o, doc, env);
  const steps = o.steps ?? [100];
  if (steps[steps.length - 1] !== 100) parseSteps(steps.join(','));
  for (const t of targets(doc, o)) {
    const r = new VersionRelease(project, t.name, t.label, releaseSpec(t.name, t.def, path.dirname(path.resolve(o.file)), env), env, log);
    if (o.abort) await r.abort();
    else await r.release(steps, o.pauseMs ?? 30_000, o);
  }
}

/** The release of one version (one compose service) in its two slots. */
class VersionRelease {
  private readonly api: RuntimeApi;
  constructor(private readonly project: string, private readonly name: string, private readonly label: HostReleaseLabel,
    private readonly spec: ReleaseSpec, private readonly env: NodeJS.ProcessEnv, private readonly log: (line: string) => void) {
    this.api = new RuntimeApi(label.runtime);
  }

  private get be(): string { return this.label.backend; }

  /** The containers of this compose service: compose's and the ones earlier releases started. */
  private async containers(): Promise<Running[]> {
    const ids = new Set<string>();
    for (const filters of [[`com.docker.compose.project=${this.project}`, `com.docker.compose.service=${this.name}`], [`${PROJECT_LABEL}=${this.project}`, `${SERVICE_LABEL}=${this.name}`]]) {
      const out = await docker(['ps', '-a', '-q', '--no-trunc', ...filters.flatMap((f) => ['--filter', `label=${f}`])], this.env, 60_000);
      for (const id of out.split('\n').map((s) => s.trim()).filter(Boolean)) ids.add(id);
    }
    if (ids.size === 0) return [];
    const info = JSON.parse(await docker(['inspect', ...ids], this.env, 60_000)) as any[];
    return info.map((c) => {
      const envs = Object.fromEntries((c.Config.Env as string[]).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const port = Number(envs[this.label.portEnv]);
      return {
        id: c.Id, name: String(c.Name).replace(/^\//, ''), running: c.State.Running === true, created: c.Created, health: c.State.Health?.Status,
        hash: c.Config.Labels?.[SPEC_LABEL], slot: this.label.slots.find((s) => s.port === port), ours: c.Config.Labels?.[PROJECT_LABEL] === this.project,
      };
    }).sort((a, b) => a.created.localeCompare(b.created));
  }

  public async release(steps: readonly number[], pauseMs: number, o: DeployOptions): Promise<void> {
    const all = await this.containers();
    for (const c of all.filter((x) => !x.running && x.ours)) await docker(['rm', '-f', c.id], this.env, 60_000);
    let running = all.filter((c) => c.running);
    if (running.length > 1) {
      // A container in a slot the gateway keeps in maintenance serves nothing: one `docker compose up -d`
      // started after a release, or one an interrupted release never put into the gateway. It goes.
      const servers = await this.api.servers(this.be);
      for (const c of running) {
        const srv = servers.find((x) => x.server === c.slot?.server);
        if (!srv || !inMaintenance(srv)) continue;
        this.log(`${this.name}: removing ${c.name}, which the gateway does not serve (its slot ${srv.server} is in maintenance)`);
        await docker(['stop', '-t', String(Math.ceil(this.spec.stopGraceMs / 1000)), c.id], this.env, this.spec.stopGraceMs + 60_000);
        await docker(['rm', '-f', c.id], this.env, 60_000);
      }
      running = running.filter((c) => !servers.some((x) => x.server === c.slot?.server && inMaintenance(x)));
    }
    if (running.length > 1) {
      throw new Error(`${this.name}: ${running.length} releases are running (${running.map((c) => c.name).join(', ')}): a release is in progress or was interrupted. Finish it: pyfleet deploy ${o.file} --service ${this.name} --abort (back to the older one)`);
    }
    const old = running[0];
    if (old && old.hash === this.spec.hash && !o.force) {
      this.log(`${this.name}: up to date (release ${this.spec.hash} runs in ${old.name})`);
      return;
    }
    if (old && !old.slot) throw new Error(`${this.name}: the running container ${old.name} listens on none of the slots of the compose file (${this.label.slots.map((s) => s.port).join(', ')}): it was started from another file; restart the project once with docker compose up -d`);
    const slot = old ? this.label.slots.find((s) => s !== old.slot)! : this.label.slots[0];
    const oldSlot = old?.slot;
    await this.ensureImage(o);
    // The free slot stays out of the gateway until the new release is healthy.
    await this.api.set(`set server ${this.be}/${slot.server} state maint`);
    const containerName = `${this.project}-${this.name}-${this.spec.hash}`;
    await docker(['rm', '-f', containerName], this.env, 60_000).catch(() => undefined);
    const envArgs = Object.entries({ ...this.spec.env, [this.label.portEnv]: String(slot.port), ...(this.label.metricsEnv && slot.metricsPort !== undefined ? { [this.label.metricsEnv]: String(slot.metricsPort) } : {}) })
      .sort(([a], [b]) => a.localeCompare(b)).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    this.log(`${this.name}: starting release ${this.spec.hash} as ${containerName} on 127.0.0.1:${slot.port}${old ? ` beside ${old.name} (127.0.0.1:${oldSlot!.port})` : ''}`);
    const id = (await docker(['run', '-d', '--name', containerName, ...envArgs, ...this.spec.runArgs,
      '--label', `${PROJECT_LABEL}=${this.project}`, '--label', `${SERVICE_LABEL}=${this.name}`, '--label', `${SPEC_LABEL}=${this.spec.hash}`,
      this.spec.image, ...this.spec.command], this.env, 120_000)).trim();
    try {
      await this.waitHealthy(id);
    } catch (e) {
      await docker(['rm', '-f', id], this.env, 60_000).catch(() => undefined);
      throw new Error(`${this.name}: the new release ${this.spec.hash} never turned healthy (${(e as Error).message}); ${old ? `the old release ${old.name} keeps serving` : 'nothing was serving'}, and the new container was removed`);
    }
    this.log(`${this.name}: release ${this.spec.hash} is healthy`);
    await this.api.set(`set server ${this.be}/${slot.server} state ready`);
    await this.api.set(`set server ${this.be}/${slot.server} health up`);
    if (!old) {
      await this.api.set(`set weight ${this.be}/${slot.server} 100`);
      this.log(`${this.name}: 100% on release ${this.spec.hash}`);
      return;
    }
    for (const w of steps) {
      await this.api.set(`set weight ${this.be}/${slot.server} ${w}`);
      if (w < 100) {
        await this.api.set(`set weight ${this.be}/${oldSlot!.server} ${100 - w}`);
      } else {
        // No new requests to the old release; the ones in flight finish.
        await this.api.set(`set server ${this.be}/${oldSlot!.server} state drain`);
      }
      this.log(`${this.name}: ${w}% on release ${this.spec.hash}`);
      if (w < 100) await this.gate(id, slot, oldSlot!, old, pauseMs);
    }
    await this.retire(old, oldSlot!);
    this.log(`${this.name}: released ${this.spec.hash}; ${old.name} stopped and removed`);
  }

  /** Goes back to the older of two running releases. */
  public async abort(): Promise<void> {
    const running = (await this.containers()).filter((c) => c.running);
    if (running.length < 2) {
      this.log(`${this.name}: no release in progress (${running.length} running)`);
      return;
    }
    const [old, fresh] = [running[0], running[running.length - 1]];
    if (!old.slot || !fresh.slot) throw new Error(`${this.name}: the running containers do not listen on the slots of the compose file`);
    await this.rollback(old.slot, fresh, fresh.slot);
    this.log(`${this.name}: aborted; ${old.name} serves every request, ${fresh.name} stopped and removed`);
  }

  private async ensureImage(o: DeployOptions): Promise<void> {
    const b = this.spec.build;
    const have = await docker(['image', 'inspect', this.spec.image], this.env, 60_000).then(() => true, () => false);
    if (!b) {
      if (!have) await docker(['pull', this.spec.image], this.env, 600_000);
      return;
    }
    if (have && !o.force) return;
    const args = { ...b.args, ...(o.buildArgs ?? {}) };
    this.log(`${this.name}: building ${this.spec.image}`);
    await docker(['build', '-t', this.spec.image, ...(b.dockerfile ? ['-f', path.join(b.context, b.dockerfile)] : []),
      ...(o.buildNetwork ? ['--network', o.buildNetwork] : []), ...Object.keys(args).sort().flatMap((k) => ['--build-arg', `${k}=${args[k]}`]), b.context], this.env, 1_800_000);
  }

  /** Until Docker reports the container healthy; rejects when it turns unhealthy, exits, or takes longer than its health check allows. */
  private async waitHealthy(id: string): Promise<void> {
    const h = this.spec.health;
    const limitMs = h.startPeriodMs + (h.intervalMs + h.timeoutMs) * (h.retries + 1) + 10_000;
    const deadline = Date.now() + limitMs;
    for (;;) {
      const c = JSON.parse(await docker(['inspect', id], this.env, 60_000))[0];
      const status = c.State.Health?.Status;
      if (status === 'healthy') return;
      const last = (c.State.Health?.Log ?? []).slice(-1)[0];
      const detail = last ? `; last check exited ${last.ExitCode}: ${String(last.Output).trim().split('\n').slice(-1)[0].slice(-300)}` : '';
      if (!c.State.Running) {
        const logs = await docker(['logs', '--tail', '20', id], this.env, 30_000).catch(() => '');
        throw new Error(`the container exited with code ${c.State.ExitCode}${logs ? `; its last log lines: ${logs.trim().slice(-600)}` : ''}`);
      }
      if (status === 'unhealthy') throw new Error(`Docker reports it unhealthy${detail}`);
      if (Date.now() > deadline) throw new Error(`not healthy within ${Math.round(limitMs / 1000)} s (its health check's start period and retries)${detail}`);
      await sleep(500);
    }
  }

  /** The pause after a canary step: the new release must stay up in the gateway and healthy, else back to the old one. */
  private async gate(id: string, slot: HostSlot, oldSlot: HostSlot, old: Running, pauseMs: number): Promise<void> {
    const until = Date.now() + pauseMs;
    while (Date.now() < until) {
      await sleep(Math.min(1000, Math.max(0, until - Date.now())));
      const s = await this.api.server(this.be, slot.server);
      if (inMaintenance(s)) throw new Error(`${this.name}: the release ${this.spec.hash} was aborted (its server ${this.be}/${slot.server} is in maintenance: pyfleet deploy --abort)`);
      const c = JSON.parse(await docker(['inspect', id], this.env, 60_000).catch(() => '[{}]'))[0];
      const healthy = c.State?.Running === true && c.State?.Health?.Status === 'healthy';
      if (s.opState !== 2 || !healthy) {
        const fresh: Running = { id, name: String(c.Name ?? id).replace(/^\//, ''), running: true, created: '', ours: true, slot };
        await this.rollback(oldSlot, fresh, slot);
        throw new Error(`${this.name}: the new release ${this.spec.hash} ${s.opState !== 2 ? 'went down in the gateway' : 'turned unhealthy'} during the canary; back to ${old.name}, the new container was removed`);
      }
    }
  }

  /** Every request to `old` again, then `fresh` drained, stopped and removed. */
  private async rollback(oldSlot: HostSlot, fresh: Running, freshSlot: HostSlot): Promise<void> {
    await this.api.set(`set server ${this.be}/${oldSlot.server} state ready`);
    await this.api.set(`set weight ${this.be}/${oldSlot.server} 100`);
    await this.retire(fresh, freshSlot);
  }

  /** Drains a release (bounded by its graceful shutdown time), takes it out of the gateway, stops and removes it. */
  private async retire(c: Running, slot: HostSlot): Promise<void> {
    await this.api.set(`set server ${this.be}/${slot.server} state drain`);
    const deadline = Date.now() + this.spec.stopGraceMs;
    while (Date.now() < deadline && (await this.api.inFlight(this.be, slot.server)) > 0) await sleep(200);
    await this.api.set(`set server ${this.be}/${slot.server} state maint`);
    await docker(['stop', '-t', String(Math.ceil(this.spec.stopGraceMs / 1000)), c.id], this.env, this.spec.stopGraceMs + 60_000);
    await docker(['rm', '-f', c.id], this.env, 60_000);
  }
}

