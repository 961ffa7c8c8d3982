export * from './workers';
export { GunicornSettingValue, PythonServiceRecipe } from './recipe';
export { PythonAppOptions, PythonVersionOptions, PythonWebApp, DEFAULT_PYTHON_VERSION, DEFAULT_THREADS, WORKERS_ENV } from './base';
export * from './flask';
export * from './fastapi';
