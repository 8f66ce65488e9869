/**
 * `layerfs bench` as a library: runBench() measures, writeOutputs() writes results.csv, report.md,
 * chart.svg and results.json, compareSamples() diffs two results.csv files.
 */
export { runBench, sizesFor, selectWorkloads } from './run';
export { writeOutputs, renderReport, resultsTable, terminalSummary } from './report';
export { renderChart } from './chart';
export { compareSamples, renderCompare } from './compare';
export { parseCsv, toCsv, Summaries, median } from './samples';
export { LAYERFS_VARIANTS, KERNEL_VARIANTS, chooseImpls, parseImplArg } from './impls';
export { setImageLayerResolver, ImageUnavailableError } from './image';
export { WORKLOADS } from './workloads';
export type * from './types';
