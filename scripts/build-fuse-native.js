#!/usr/bin/env node
// Builds fuse-native's C (from the installed package, version 2.2.6 only) with layerfs' patch into
// native-bindings/fuse-native/build/Release/fuse_native_patched.node, which lib/fuse-native/load.ts
// prefers to the package's own prebuild. Offline: node-gyp with the installed Node headers, the
// libfuse 2 headers fuse-native ships, and the system's libfuse.so.2. Optional: any failure leaves
// the stock prebuild in use (its defects documented in docs/transports.md) and exits 0 unless
// --strict. Never runs fuse-native's own `configure`.
//
// The patch (each edit must apply exactly once, else nothing is built):
// - utimens: both times, as seconds and raw nanoseconds (UTIME_NOW/UTIME_OMIT kept), and
//   flag_utime_omit_ok so libfuse 2 passes a lone atime or mtime (touch -a, touch -m).
// - stat: times to the nanosecond, 64-bit inode numbers.
// - create: the open flags.
// - the caller's uid, gid, pid and umask, readable (fuse_native_caller) while a handler runs.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'native-bindings', 'fuse-native');
const strict = process.argv.includes('--strict');

function fail(msg) {
  console.error(`build-fuse-native: ${msg}; the stock fuse-native stays in use`);
  process.exit(strict ? 1 : 0);
}

let pkgDir;
try {
  pkgDir = path.dirname(require.resolve('fuse-native/package.json', { paths: [root] }));
} catch {
  fail('fuse-native is not installed (optional)');
}
const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
if (version !== '2.2.6') fail(`fuse-native ${version}: the patch is for 2.2.6`);

const EDITS = [
  // the caller, saved by each libfuse thread before it hands its request to the JS thread
  ['  int32_t res;\n\n  // Extended attributes', '  int32_t res;\n  uint32_t caller[4];\n  uint32_t atime_nsec;\n  uint32_t mtime_nsec;\n  uint64_t atime_sec;\n  uint64_t mtime_sec;\n\n  // Extended attributes'],
  ['#define FUSE_NATIVE_HANDLER(name, blk)\\\n  fuse_thread_locals_t *l = get_thread_locals();\\\n',
    '#define FUSE_NATIVE_HANDLER(name, blk)\\\n  fuse_thread_locals_t *l = get_thread_locals();\\\n  { struct fuse_context *fc = fuse_get_context(); l->caller[0] = fc->uid; l->caller[1] = fc->gid; l->caller[2] = fc->pid; l->caller[3] = fc->umask; }\\\n'],
  ['static void fuse_native_dispatch (uv_async_t* handle) {\n  fuse_thread_locals_t *l = (fuse_thread_locals_t *) handle->data;\n',
    'static fuse_thread_locals_t *current_locals = NULL;\n\nstatic void fuse_native_dispatch (uv_async_t* handle) {\n  fuse_thread_locals_t *l = (fuse_thread_locals_t *) handle->data;\n  current_locals = l;\n'],
  // utimens: seconds (as two uint32) and raw nanoseconds of both times
  ['FUSE_METHOD_VOID(utimens, 5, 0, (const char *path, const struct timespec tv[2]), {\n  l->path = path;\n  l->atime = timespec_to_uint64(&tv[0]);\n  l->mtime = timespec_to_uint64(&tv[1]);\n}, {\n  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));\n  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)\n  FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)\n})',
    'FUSE_METHOD_VOID(utimens, 7, 0, (const char *path, const struct timespec tv[2]), {\n  l->path = path;\n  l->atime_sec = tv[0].tv_sec;\n  l->atime_nsec = tv[0].tv_nsec;\n  l->mtime_sec = tv[1].tv_sec;\n  l->mtime_nsec = tv[1].tv_nsec;\n}, {\n  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));\n  FUSE_UINT64_TO_INTS_ARGV(l->atime_sec, 3)\n  napi_create_uint32(env, l->atime_nsec, &(argv[5]));\n  FUSE_UINT64_TO_INTS_ARGV(l->mtime_sec, 6)\n  napi_create_uint32(env, l->mtime_nsec, &(argv[8]));\n})'],
  ['  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;\n', '  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;\n  ops.flag_utime_omit_ok = 1;\n'],
  // stat times to the nanosecond and 64-bit inode numbers: three sub-millisecond nanosecond counts
  // and the inode number's high half after the 18 numbers of its stat arrays (22 in all; the JS
  // side, lib/fuse-native/load.ts, builds every stat array of a patched build that way)
  ['  uint32s_to_timespec(&stat->st_ctim, &ints);\n#endif\n}',
    '  uint32s_to_timespec(&stat->st_ctim, &ints);\n  stat->st_atim.tv_nsec += *ints++;\n  stat->st_mtim.tv_nsec += *ints++;\n  stat->st_ctim.tv_nsec += *ints++;\n  stat->st_ino |= ((uint64_t) *ints++) << 32;\n#endif\n}'],
  // create: its open flags
  ['FUSE_METHOD(create, 2, 1, (const char *path, mode_t mode, struct fuse_file_info *info), {\n  l->path = path;\n  l->mode = mode;\n  l->info = info;\n}, {\n  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));\n  napi_create_uint32(env, l->mode, &(argv[3]));\n}',
    'FUSE_METHOD(create, 3, 1, (const char *path, mode_t mode, struct fuse_file_info *info), {\n  l->path = path;\n  l->mode = mode;\n  l->info = info;\n}, {\n  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));\n  napi_create_uint32(env, l->mode, &(argv[3]));\n  napi_create_uint32(env, l->info->flags, &(argv[4]));\n}'],
  // fuse_native_caller(): [uid, gid, pid, umask] of the request being dispatched
  ['NAPI_INIT() {', 'NAPI_METHOD(fuse_native_caller) {\n  napi_value arr;\n  napi_create_array_with_length(env, 4, &arr);\n  for (uint32_t i = 0; i < 4; i++) {\n    napi_value v;\n    napi_create_uint32(env, current_locals == NULL ? 0 : current_locals->caller[i], &v);\n    napi_set_element(env, arr, i, v);\n  }\n  return arr;\n}\n\nNAPI_INIT() {'],
  ['  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n', '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n  NAPI_EXPORT_FUNCTION(fuse_native_caller)\n'],
];

let src = fs.readFileSync(path.join(pkgDir, 'fuse-native.c'), 'utf8');
for (const [from, to] of EDITS) {
  const n = src.split(from).length - 1;
  if (n !== 1) fail(`patch edit not found exactly once (${n}): ${from.split('\n')[0]}`);
  src = src.replace(from, () => to);
}
fs.mkdirSync(path.join(out, 'src'), { recursive: true });
fs.writeFileSync(path.join(out, 'src', 'fuse-native.c'), src);
fs.copyFileSync(path.join(pkgDir, 'semaphore.h'), path.join(out, 'src', 'semaphore.h'));

// node-gyp: npm's (npm run / install scripts say where), a local one, or the one npm bundles
const gyp = [
  process.env.npm_config_node_gyp,
  path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].find((p) => p !== undefined && fs.existsSync(p));
if (gyp === undefined) fail('node-gyp not found');
const gypCmd = [process.execPath, gyp];
// Offline: Node's own headers (npm's nodedir setting, else those installed beside this node)
const prefix = path.join(path.dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);
if (nodedir !== undefined) gypCmd.push(`--nodedir=${nodedir}`);
const r = spawnSync(gypCmd[0], [...gypCmd.slice(1), 'rebuild', `--directory=${out}`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) fail(`node-gyp failed: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
console.error('build-fuse-native: patched fuse-native built (native-bindings/fuse-native)');
