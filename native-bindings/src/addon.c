/* layerfs native addon: module registration and platform constants. */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <linux/openat2.h>
#include <linux/falloc.h>
#include <sys/file.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif
#ifndef XATTR_CREATE
#define XATTR_CREATE 0x1
#endif
#ifndef XATTR_REPLACE
#define XATTR_REPLACE 0x2
#endif

#define C(obj, NAME, val) lfs_set_i64(env, obj, NAME, (int64_t)(val))

static napi_value group(napi_env env, napi_value exports, const char *name) {
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, exports, name, o);
  return o;
}

static void init_constants(napi_env env, napi_value exports) {
  napi_value o = group(env, exports, "O");
  C(o, "RDONLY", O_RDONLY); C(o, "WRONLY", O_WRONLY); C(o, "RDWR", O_RDWR);
  C(o, "CREAT", O_CREAT); C(o, "EXCL", O_EXCL); C(o, "TRUNC", O_TRUNC);
  C(o, "APPEND", O_APPEND); C(o, "NOFOLLOW", O_NOFOLLOW); C(o, "DIRECTORY", O_DIRECTORY);
  C(o, "PATH", O_PATH); C(o, "CLOEXEC", O_CLOEXEC); C(o, "TMPFILE", O_TMPFILE);
  C(o, "NONBLOCK", O_NONBLOCK); C(o, "NOATIME", O_NOATIME); C(o, "DIRECT", O_DIRECT);
  C(o, "LARGEFILE", O_LARGEFILE); C(o, "ACCMODE", O_ACCMODE);

  napi_value at = group(env, exports, "AT");
  C(at, "FDCWD", AT_FDCWD); C(at, "SYMLINK_NOFOLLOW", AT_SYMLINK_NOFOLLOW);
  C(at, "EMPTY_PATH", AT_EMPTY_PATH); C(at, "REMOVEDIR", AT_REMOVEDIR);
  C(at, "SYMLINK_FOLLOW", AT_SYMLINK_FOLLOW);

  napi_value r = group(env, exports, "RESOLVE");
  C(r, "BENEATH", RESOLVE_BENEATH); C(r, "NO_SYMLINKS", RESOLVE_NO_SYMLINKS);
  C(r, "NO_MAGICLINKS", RESOLVE_NO_MAGICLINKS); C(r, "NO_XDEV", RESOLVE_NO_XDEV);
  C(r, "IN_ROOT", RESOLVE_IN_ROOT);

  napi_value rn = group(env, exports, "RENAME");
  C(rn, "NOREPLACE", RENAME_NOREPLACE); C(rn, "EXCHANGE", RENAME_EXCHANGE);
  C(rn, "WHITEOUT", RENAME_WHITEOUT);

  napi_value s = group(env, exports, "S");
  C(s, "IFMT", S_IFMT); C(s, "IFREG", S_IFREG); C(s, "IFDIR", S_IFDIR);
  C(s, "IFLNK", S_IFLNK); C(s, "IFCHR", S_IFCHR); C(s, "IFBLK", S_IFBLK);
  C(s, "IFIFO", S_IFIFO); C(s, "IFSOCK", S_IFSOCK);

  napi_value dt = group(env, exports, "DT");
  C(dt, "UNKNOWN", DT_UNKNOWN); C(dt, "FIFO", DT_FIFO); C(dt, "CHR", DT_CHR);
  C(dt, "DIR", DT_DIR); C(dt, "BLK", DT_BLK); C(dt, "REG", DT_REG);
  C(dt, "LNK", DT_LNK); C(dt, "SOCK", DT_SOCK);

  napi_value u = group(env, exports, "UTIME");
  C(u, "NOW", UTIME_NOW); C(u, "OMIT", UTIME_OMIT);

  napi_value x = group(env, exports, "XATTR");
  C(x, "CREATE", XATTR_CREATE); C(x, "REPLACE", XATTR_REPLACE);

  napi_value sk = group(env, exports, "SEEK");
  C(sk, "SET", SEEK_SET); C(sk, "CUR", SEEK_CUR); C(sk, "END", SEEK_END);
  C(sk, "DATA", SEEK_DATA); C(sk, "HOLE", SEEK_HOLE);

  napi_value fa = group(env, exports, "FALLOC");
  C(fa, "KEEP_SIZE", FALLOC_FL_KEEP_SIZE); C(fa, "PUNCH_HOLE", FALLOC_FL_PUNCH_HOLE);
  C(fa, "ZERO_RANGE", FALLOC_FL_ZERO_RANGE); C(fa, "COLLAPSE_RANGE", FALLOC_FL_COLLAPSE_RANGE);
  C(fa, "INSERT_RANGE", FALLOC_FL_INSERT_RANGE);

  napi_value lk = group(env, exports, "LOCK");
  C(lk, "SH", LOCK_SH); C(lk, "EX", LOCK_EX); C(lk, "UN", LOCK_UN); C(lk, "NB", LOCK_NB);
}

/* strerror(errno) from the C library, for messages when Node has none */
static LFS_FN(js_strerror) {
  LFS_ARGS(1);
  int32_t e;
  if (lfs_arg_i32(env, argv[0], "errno", &e)) return NULL;
  char buf[256];
  const char *m = strerror_r(e < 0 ? -e : e, buf, sizeof buf);
  napi_value r;
  napi_create_string_utf8(env, m, NAPI_AUTO_LENGTH, &r);
  return r;
}

/* Raised whenever an export changes: lib/sys/native.ts refuses an addon built from older sources
 * (a missing constant reads as undefined in JS and silently changes what a flag test means). */
#define LFS_ABI_VERSION 2

static napi_value init(napi_env env, napi_value exports) {
  init_constants(env, exports);
  lfs_set_i64(env, exports, "ABI_VERSION", LFS_ABI_VERSION);
  lfs_export_fn(env, exports, "strerror", js_strerror);
  lfs_init_path_ops(env, exports);
  lfs_init_beneath(env, exports);
  lfs_init_xattr(env, exports);
  lfs_init_data(env, exports);
  lfs_init_dir(env, exports);
  lfs_init_fuse(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
