/* layerfs native addon: shared helpers. Plain C, N-API only. */
#ifndef LAYERFS_COMMON_H
#define LAYERFS_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

#define LFS_MAX_ARGS 8

/* Each exported function: napi_value fn(napi_env, napi_callback_info). */
#define LFS_FN(name) napi_value name(napi_env env, napi_callback_info info)

/* Fetch up to n args into argv (missing ones are napi undefined). */
#define LFS_ARGS(n)                                                        \
  size_t argc = (n);                                                       \
  napi_value argv[(n) > 0 ? (n) : 1];                                      \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)     \
    return NULL;                                                           \
  for (size_t i_ = argc; i_ < (size_t)(n); i_++)                           \
    napi_get_undefined(env, &argv[i_]);

/* Argument getters: return 0 on success; on wrong type they throw a
 * TypeError and return -1 (the caller then returns NULL). */
int lfs_arg_i32(napi_env env, napi_value v, const char *what, int32_t *out);
/* int32 with a default when undefined */
int lfs_arg_i32_opt(napi_env env, napi_value v, const char *what, int32_t dflt, int32_t *out);
int lfs_arg_u32(napi_env env, napi_value v, const char *what, uint32_t *out);
int lfs_arg_i64(napi_env env, napi_value v, const char *what, int64_t *out);
/* int64 where null/undefined means "absent" (*present = 0) */
int lfs_arg_i64_nullable(napi_env env, napi_value v, const char *what, int64_t *out, int *present);
int lfs_arg_u64(napi_env env, napi_value v, const char *what, uint64_t *out);

/* String argument, UTF-8. Short strings use the caller-provided stack buffer
 * (size bufsz), longer ones are malloc'd; release with lfs_str_free.
 * Sets *has_nul if the JS string contains an embedded NUL (callers return
 * -EINVAL then, like the kernel would for a truncated name it cannot see). */
typedef struct {
  char *s;
  size_t len;
  int heap;
  int has_nul;
} lfs_str;
int lfs_arg_str(napi_env env, napi_value v, const char *what, char *stackbuf, size_t bufsz, lfs_str *out);
void lfs_str_free(lfs_str *s);

/* Buffer / TypedArray argument: data pointer + byte length */
int lfs_arg_buf(napi_env env, napi_value v, const char *what, void **data, size_t *len);
/* Float64Array argument with at least min_len elements */
int lfs_arg_f64arr(napi_env env, napi_value v, const char *what, size_t min_len, double **data);

/* Result helpers */
napi_value lfs_num(napi_env env, double d);
napi_value lfs_int(napi_env env, int64_t r);          /* r as number */
napi_value lfs_errno(napi_env env);                    /* -errno as number */
napi_value lfs_undef(napi_env env);
napi_value lfs_null(napi_env env);

/* Registration helper */
void lfs_export_fn(napi_env env, napi_value exports, const char *name, napi_callback fn);
void lfs_set_i64(napi_env env, napi_value obj, const char *name, int64_t v);

/* Module init pieces */
void lfs_init_path_ops(napi_env env, napi_value exports);
void lfs_init_beneath(napi_env env, napi_value exports);
void lfs_init_xattr(napi_env env, napi_value exports);
void lfs_init_data(napi_env env, napi_value exports);
void lfs_init_dir(napi_env env, napi_value exports);
void lfs_init_fuse(napi_env env, napi_value exports);

/* Shared by path_ops/beneath */
int lfs_sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
int lfs_open_beneath_walk(int dirfd, const char *path, int flags, unsigned mode);

#define LFS_PATH_STACK 1024

/* Convenience: declare + fetch a string arg, returning NULL on type error */
#define LFS_STR(var, idx, what)                                           \
  char var##_stack_[LFS_PATH_STACK];                                      \
  lfs_str var;                                                            \
  if (lfs_arg_str(env, argv[idx], what, var##_stack_, sizeof var##_stack_, &var)) \
    return NULL;

#endif

/* Return -EINVAL for strings with embedded NULs (would be silently truncated). */
#define LFS_NUL_CHECK(var)                                               \
  if ((var).has_nul) { lfs_str_free(&(var)); return lfs_int(env, -EINVAL); }

/* Stat Float64Array layout (mirrored in lib/sys/stat.ts) */
enum {
  LFS_ST_DEV, LFS_ST_INO, LFS_ST_MODE, LFS_ST_NLINK, LFS_ST_UID, LFS_ST_GID,
  LFS_ST_RDEV, LFS_ST_RDEV_MAJOR, LFS_ST_RDEV_MINOR, LFS_ST_DEV_MAJOR, LFS_ST_DEV_MINOR,
  LFS_ST_SIZE, LFS_ST_BLOCKS, LFS_ST_BLKSIZE,
  LFS_ST_ATIME_SEC, LFS_ST_ATIME_NSEC, LFS_ST_MTIME_SEC, LFS_ST_MTIME_NSEC,
  LFS_ST_CTIME_SEC, LFS_ST_CTIME_NSEC, LFS_ST_BTIME_SEC, LFS_ST_BTIME_NSEC,
  LFS_ST_MNT_ID, LFS_ST_COUNT
};
/* StatFs Float64Array layout (mirrored in lib/sys/data.ts) */
enum {
  LFS_SFS_TYPE, LFS_SFS_BSIZE, LFS_SFS_BLOCKS, LFS_SFS_BFREE, LFS_SFS_BAVAIL,
  LFS_SFS_FILES, LFS_SFS_FFREE, LFS_SFS_NAMELEN, LFS_SFS_FRSIZE, LFS_SFS_FLAGS,
  LFS_SFS_COUNT
};
