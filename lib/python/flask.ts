import { Construct } from 'constructs';
import { PythonAppOptions, PythonWebApp } from './base';
import { WsgiWorkerClass } from './workers';

/** Properties of a GunicornFlaskApp. */
export interface GunicornFlaskAppProps extends PythonAppOptions {
  /**
   * gunicorn worker class.
   * @default WsgiWorkerClass.GTHREAD
   */
  readonly workerClass?: WsgiWorkerClass;
  /**
   * Threads per worker (GTHREAD only). Lower it for CPU-bound handlers; keep it at or below what the
   * app's connection pools can serve at once per process, or requests queue for a connection instead.
   * @default 32
   */
  readonly threads?: number;
}

/**
 * A Flask (or any WSGI) app served by gunicorn, with a generated production image: a pinned slim
 * multi-stage Dockerfile running as non-root, and a gunicorn.conf.py sized from the CPU limit.
 *
 * @example
 * new GunicornFlaskApp(stack, 'catalog', { source: path.join(__dirname, 'catalog'), cpu: Cpu.cores(2), memory: Size.mebibytes(512) });
 */
export class GunicornFlaskApp extends PythonWebApp {
  constructor(scope: Construct, id: string, props: GunicornFlaskAppProps) {
    super(scope, id, props, {
      framework: 'flask',
      construct: 'GunicornFlaskApp',
      workerClass: props?.workerClass ?? WsgiWorkerClass.GTHREAD,
      threads: props?.threads,
    });
  }
}
