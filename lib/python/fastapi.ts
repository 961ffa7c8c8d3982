import { Construct } from 'constructs';
import { PythonAppOptions, PythonWebApp } from './base';
import { AsgiWorkerClass } from './workers';

/** Properties of a FastApiApp. */
export interface FastApiAppProps extends PythonAppOptions {
  /**
   * gunicorn worker class (gunicorn manages the processes, each worker runs an event loop).
   * @default AsgiWorkerClass.UVICORN
   */
  readonly workerClass?: AsgiWorkerClass;
}

/**
 * A FastAPI (or any ASGI) app served by gunicorn with uvicorn workers, with a generated production
 * image: a pinned slim multi-stage Dockerfile running as non-root, and a gunicorn.conf.py sized from
 * the CPU limit.
 *
 * @example
 * new FastApiApp(stack, 'user-service', { source: path.join(__dirname, 'services/user'), module: 'app:app' });
 */
export class FastApiApp extends PythonWebApp {
  constructor(scope: Construct, id: string, props: FastApiAppProps) {
    super(scope, id, props, {
      framework: 'fastapi',
      construct: 'FastApiApp',
      workerClass: props?.workerClass ?? AsgiWorkerClass.UVICORN,
    });
  }
}
