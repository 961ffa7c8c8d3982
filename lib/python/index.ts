export * from './workers';
export { GunicornSettingValue, PythonServiceRecipe } from './recipe';
export { PythonAppOptions, PythonMetricsOptions, PythonVersionOptions, PythonWebApp, DEFAULT_METRICS_PORT, DEFAULT_PYTHON_VERSION, DEFAULT_THREADS, METRICS_PORT_NAME, WORKERS_ENV } from './base';
export * from './flask';
export * from './fastapi';
