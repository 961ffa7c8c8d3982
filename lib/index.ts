/**
 * The `pyfleet` entry point: the constructs (App, Stack, MicroService, GunicornFlaskApp, FastApiApp,
 * MeshRoute, CircuitBreaker, ...), the units, the resolved model and the built-in targets. The Pulumi
 * components are in the separate entry point `pyfleet/pulumi`.
 *
 * @module pyfleet
 */
export * from './core/errors';
export * from './core/units';
export { App, AppProps, StackOutput } from './app/app';
export { Stack, StackProps, ComposeNetworkMode, ComposeLogging, ComposeLoggingOptions, ComposeOptions, NetworkPolicyOptions } from './core/stack';
export { Artifact, RenderOptions, Target, TargetOutput } from './model/target';
export * from './model/stack';
export { BuildRecipe, BuildGenerator, BuildGenerators } from './service/build';
export * from './service/image';
export { ImageAsset } from './service/asset';
export * from './service/env';
export * from './service/health';
export * from './service/microservice';
export { Volume, VolumeAccessMode, VolumeMedium, PersistentVolumeOptions, EphemeralVolumeOptions } from './service/volume';
export { ConfigFile, SecretFile, SecretFileOptions, CONFIG_FILE_MAX_BYTES } from './service/config-file';
export { VolumeModel, ConfigFileModel, SecretFileModel, MountsModel, claimName } from './model/volumes';
export { AutoscaleOptions, AutoscaleSettings, DEFAULT_CPU_UTILIZATION, DisruptionBudget, TopologySpread } from './service/scaling';
export * from './render';
export * from './mesh';
export { PyfleetWarning, addWarning } from './core/warnings';
export * from './python';
export * from './data';
export { Worker, WorkerProps, WorkerHealthCheck, WorkerHealthCheckOptions } from './workers/worker';
export { CeleryMetricsOptions, CeleryWorker, CeleryWorkerProps, CeleryWorkerRecipe, CELERY_BROKER_ENV, CELERY_SIZING, CELERY_WRAPPER_FILE, DEFAULT_CELERY_METRICS_PORT, celeryPingCommand } from './workers/celery';
export { Migration, MigrationProps } from './jobs/migration';
export { Schedule, ScheduleProps } from './jobs/schedule';
export { checkCron, isKnownTimeZone, nextRuns } from './jobs/cron';
export { WorkerModel, WorkerHealthModel, MigrationModel, ScheduleModel } from './model/jobs';
export { Monitoring, KubernetesScrapeMode, PrometheusMonitoringOptions, MonitoringModel } from './monitoring/monitoring';
