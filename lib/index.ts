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
export { Artifact, Target, TargetOutput } from './model/target';
export * from './model/stack';
export { BuildRecipe, BuildGenerator, BuildGenerators } from './service/build';
export * from './service/image';
export { ImageAsset } from './service/asset';
export * from './service/env';
export * from './service/health';
export * from './service/microservice';
export { AutoscaleOptions, AutoscaleSettings, DEFAULT_CPU_UTILIZATION, DisruptionBudget, TopologySpread } from './service/scaling';
export * from './render';
export * from './mesh';
export { PyfleetWarning, addWarning } from './core/warnings';
export * from './python';
export { Monitoring, KubernetesScrapeMode, PrometheusMonitoringOptions, MonitoringModel } from './monitoring/monitoring';
