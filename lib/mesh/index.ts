export * from './mesh';
export * from './match';
export * from './route';
export * from './breaker';
export * from './gateway';
