/**
 * The `pyfleet/pulumi` entry point: Pulumi components that deploy a pyfleet stack, to a Kubernetes
 * cluster ({@link KubernetesDeployment}) or to a Docker host ({@link DockerHostDeployment}). It is
 * separate from `pyfleet` so that cdk8s-only users install no Pulumi package (they are optional peer
 * dependencies).
 *
 * @module pyfleet/pulumi
 */
export { KubernetesDeployment, KubernetesDeploymentArgs, AwaitOptions, RegistryCredentials, DeployedObject, objectKey, typedClass, dependencies } from './kubernetes';
export { DockerHostDeployment, DockerHostDeploymentArgs, PlacedFiles, PlacedDirectory, CPU_PERIOD_MICROS, composeOrder, composeSizeToMiB, goDurationMillis } from './docker-host';
export { BuiltImage, SynthesizedStack, synthesizeStack, writeContexts } from './common';
