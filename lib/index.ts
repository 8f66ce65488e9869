export * from './engine';
export * from './mount';
