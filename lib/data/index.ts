export { DataStore, DataStoreComposeOptions, DataStoreDefaults, DataStoreKind, DataStoreProps, MAX_STORAGE_BYTES } from './base';
export * from './postgres';
export * from './redis';
