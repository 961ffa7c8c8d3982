// Debian's Prometheus for the metrics tests: started on loopback with a given configuration, and its
// HTTP query API as the tests read it.
import * as path from 'path';
import { get, start, Started } from './process';

/** One instant-vector result of the query API. */
export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** A running Prometheus and its query API. */
export interface Prometheus {
  readonly proc: Started;
  /** The instant vector of a PromQL query. */
  query(q: string): Promise<Sample[]>;
  /** The value of a query that returns exactly one sample, else undefined. */
  scalar(q: string): Promise<number | undefined>;
  /** For polling: resolves true once `q` is `want`, undefined before. */
  equals(q: string, want: number): () => Promise<true | undefined>;
}

/** Starts Prometheus with `<dir>/prometheus.yml` and its data under `<dir>/data`, listening on 127.0.0.1:`port`. */
export function startPrometheus(dir: string, port: number): Prometheus {
  const proc = start('prometheus', [
    `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { cwd: dir });
  const query = async (q: string): Promise<Sample[]> => {
    const r = await get(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
    if (r.status !== 200) throw new Error(`query ${q}: ${r.status} ${r.body}`);
    return JSON.parse(r.body).data.result;
  };
  const scalar = async (q: string): Promise<number | undefined> => {
    const res = await query(q);
    return res.length === 1 ? Number(res[0].value[1]) : undefined;
  };
  return { proc, query, scalar, equals: (q, want) => async () => ((await scalar(q)) === want ? true : undefined) };
}
