/* Extended attributes. *at forms use the Linux 6.13+ getxattrat/setxattrat/listxattrat/
 * removexattrat syscalls when present (never following a final symlink), else the
 * l*xattr calls on /proc/self/fd/<dirfd>/<name>. Plain f*xattr for fds. */
#include "common.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#endif
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif
#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif
#ifndef SYS_removexattrat
#define SYS_removexattrat 466
#endif

struct lfs_xattr_args {
  uint64_t value;
  uint32_t size;
  uint32_t flags;
};

static int xattrat_state = 0; /* 0 unknown, 1 syscalls work, -1 ENOSYS (or forced) */

/* ---- target resolution for the fallback ---- */

typedef struct {
  const char *path;  /* path to pass to (l)xattr calls */
  int follow;        /* 1: use the following variant (magic link to the object itself) */
  int tmpfd;         /* fd to close afterwards, or -1 */
  char buf[320];     /* "/proc/self/fd/N/" + a NAME_MAX component */
} xtarget;

/* Returns 0 or -errno. */
static int xtarget_open(xtarget *t, int dirfd, const char *path) {
  t->tmpfd = -1;
  t->follow = 0;
  if (path[0] == '/') { t->path = path; return 0; }
  if (path[0] == 0) {
    if (dirfd == AT_FDCWD) { t->path = "."; return 0; }
    snprintf(t->buf, sizeof t->buf, "/proc/self/fd/%d", dirfd);
    t->path = t->buf; t->follow = 1;
    return 0;
  }
  if (dirfd == AT_FDCWD) { t->path = path; return 0; }
  if (!strchr(path, '/')) {
    /* single component: /proc/self/fd/<dirfd>/<name>, not following the final name */
    size_t need = strlen(path) + 32;
    char *p = need <= sizeof t->buf ? t->buf : NULL;
    if (!p) {
      /* long name: go through an O_PATH open instead */
      goto via_open;
    }
    snprintf(p, sizeof t->buf, "/proc/self/fd/%d/%s", dirfd, path);
    t->path = p;
    return 0;
  }
via_open:
  t->tmpfd = openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (t->tmpfd < 0) return -errno;
  snprintf(t->buf, sizeof t->buf, "/proc/self/fd/%d", t->tmpfd);
  t->path = t->buf; t->follow = 1;
  return 0;
}

static void xtarget_close(xtarget *t) {
  if (t->tmpfd >= 0) close(t->tmpfd);
  t->tmpfd = -1;
}

static int at_flags_for(const char *path) {
  return AT_SYMLINK_NOFOLLOW | (path[0] == 0 ? AT_EMPTY_PATH : 0);
}

/* ---- the size loop used by get and list ---- */

typedef ssize_t (*sized_fn)(void *ctx, void *buf, size_t size);

/* Calls fn into a growing buffer. On success *out points at the data (either
 * stackbuf or a malloc'd buffer the caller frees if != stackbuf). Returns length or -errno. */
static ssize_t sized_call(sized_fn fn, void *ctx, char *stackbuf, size_t stacksz, char **out) {
  *out = stackbuf;
  ssize_t n = fn(ctx, stackbuf, stacksz);
  if (n >= 0) return n;
  if (errno != ERANGE) return -errno;
  char *heap = NULL;
  for (int tries = 0; tries < 16; tries++) {
    ssize_t need = fn(ctx, NULL, 0);
    if (need < 0) { free(heap); return -errno; }
    size_t cap = (size_t)need + 256; /* slack for a concurrent grow */
    char *nb = realloc(heap, cap);
    if (!nb) { free(heap); return -ENOMEM; }
    heap = nb;
    n = fn(ctx, heap, cap);
    if (n >= 0) { *out = heap; return n; }
    if (errno != ERANGE) { int e = errno; free(heap); return -e; }
  }
  free(heap);
  return -ERANGE;
}

/* ---- contexts ---- */

typedef struct {
  int mode;           /* 0 syscall-at, 1 path (l/no-l), 2 fd */
  int dirfd;
  const char *path;   /* for syscall mode: original path; for path mode: resolved path */
  int follow;
  const char *name;
} xctx;

static ssize_t get_fn(void *vc, void *buf, size_t size) {
  xctx *c = vc;
  if (c->mode == 0) {
    struct lfs_xattr_args a = { (uint64_t)(uintptr_t)buf, (uint32_t)size, 0 };
    return syscall(SYS_getxattrat, c->dirfd, c->path, at_flags_for(c->path), c->name, &a, sizeof a);
  }
  if (c->mode == 2) return fgetxattr(c->dirfd, c->name, buf, size);
  return c->follow ? getxattr(c->path, c->name, buf, size) : lgetxattr(c->path, c->name, buf, size);
}

static ssize_t list_fn(void *vc, void *buf, size_t size) {
  xctx *c = vc;
  if (c->mode == 0)
    return syscall(SYS_listxattrat, c->dirfd, c->path, at_flags_for(c->path), buf, size);
  if (c->mode == 2) return flistxattr(c->dirfd, buf, size);
  return c->follow ? listxattr(c->path, buf, size) : llistxattr(c->path, buf, size);
}

static napi_value make_get_result(napi_env env, ssize_t n, char *data, char *stackbuf) {
  napi_value r;
  if (n == -ENODATA) r = lfs_null(env);
  else if (n < 0) r = lfs_int(env, n);
  else napi_create_buffer_copy(env, (size_t)n, data, NULL, &r);
  if (data != stackbuf) free(data);
  return r;
}

static napi_value make_list_result(napi_env env, ssize_t n, char *data, char *stackbuf) {
  napi_value r;
  if (n < 0) { r = lfs_int(env, n); }
  else {
    napi_create_array(env, &r);
    uint32_t idx = 0;
    size_t i = 0;
    while (i < (size_t)n) {
      size_t l = strnlen(data + i, (size_t)n - i);
      if (l > 0) {
        napi_value s;
        napi_create_string_utf8(env, data + i, l, &s);
        napi_set_element(env, r, idx++, s);
      }
      i += l + 1;
    }
  }
  if (data != stackbuf) free(data);
  return r;
}

/* The *xattrat syscalls reject O_PATH fds with AT_EMPTY_PATH (EBADF, seen on 6.18), so
 * path '' always goes through the /proc/self/fd/<fd> magic link, which resolves to the
 * object itself (also for an O_PATH|O_NOFOLLOW fd of a symlink). */
static int use_syscalls(const char *path) { return path[0] != 0 && xattrat_state >= 0; }
static int map_empty(const char *path, int r) { return (path[0] == 0 && r == -ENOENT) ? -EBADF : r; }
static void note_result(ssize_t r) {
  if (xattrat_state == 0) xattrat_state = (r < 0 && errno == ENOSYS) ? -1 : 1;
}

/* ---- getxattrat ---- */

static ssize_t do_getxattrat(int dirfd, const char *path, const char *name, char *stackbuf, size_t sz, char **out) {
  xctx c = { 0, dirfd, path, 0, name };
  if (use_syscalls(path)) {
    ssize_t n = sized_call(get_fn, &c, stackbuf, sz, out);
    if (xattrat_state == 0) xattrat_state = n == -ENOSYS ? -1 : 1;
    if (xattrat_state > 0) return n;
  }
  xtarget t;
  int r = xtarget_open(&t, dirfd, path);
  if (r < 0) { *out = stackbuf; return r; }
  c.mode = 1; c.path = t.path; c.follow = t.follow;
  ssize_t n = sized_call(get_fn, &c, stackbuf, sz, out);
  xtarget_close(&t);
  return n < 0 ? map_empty(path, (int)n) : n;
}

static LFS_FN(js_getxattrat) {
  LFS_ARGS(3);
  int32_t dirfd;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  char n_stack[256]; lfs_str nm;
  if (lfs_arg_str(env, argv[2], "name", n_stack, sizeof n_stack, &nm)) { lfs_str_free(&p); return NULL; }
  if (p.has_nul || nm.has_nul) { lfs_str_free(&p); lfs_str_free(&nm); return lfs_int(env, -EINVAL); }
  char stackbuf[4096]; char *data;
  ssize_t n = do_getxattrat(dirfd, p.s, nm.s, stackbuf, sizeof stackbuf, &data);
  lfs_str_free(&p); lfs_str_free(&nm);
  return make_get_result(env, n, data, stackbuf);
}

/* ---- listxattrat ---- */

static LFS_FN(js_listxattrat) {
  LFS_ARGS(2);
  int32_t dirfd;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  LFS_NUL_CHECK(p);
  char stackbuf[4096]; char *data = stackbuf;
  xctx c = { 0, dirfd, p.s, 0, NULL };
  ssize_t n = 0;
  int done = 0;
  if (use_syscalls(p.s)) {
    n = sized_call(list_fn, &c, stackbuf, sizeof stackbuf, &data);
    if (xattrat_state == 0) xattrat_state = n == -ENOSYS ? -1 : 1;
    done = xattrat_state > 0;
  }
  if (!done) {
    xtarget t;
    int r = xtarget_open(&t, dirfd, p.s);
    if (r < 0) n = r;
    else {
      c.mode = 1; c.path = t.path; c.follow = t.follow;
      n = sized_call(list_fn, &c, stackbuf, sizeof stackbuf, &data);
      xtarget_close(&t);
      if (n < 0) n = map_empty(p.s, (int)n);
    }
  }
  lfs_str_free(&p);
  return make_list_result(env, n, data, stackbuf);
}

/* ---- setxattrat / removexattrat ---- */

static LFS_FN(js_setxattrat) {
  LFS_ARGS(5);
  int32_t dirfd, flags; void *val; size_t vlen;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  char n_stack[256]; lfs_str nm;
  if (lfs_arg_str(env, argv[2], "name", n_stack, sizeof n_stack, &nm)) { lfs_str_free(&p); return NULL; }
  if (lfs_arg_buf(env, argv[3], "value", &val, &vlen) ||
      lfs_arg_i32_opt(env, argv[4], "flags", 0, &flags)) { lfs_str_free(&p); lfs_str_free(&nm); return NULL; }
  int r = 0;
  if (p.has_nul || nm.has_nul) { r = -EINVAL; goto out; }
  if (use_syscalls(p.s)) {
    struct lfs_xattr_args a = { (uint64_t)(uintptr_t)val, (uint32_t)vlen, (uint32_t)flags };
    long s = syscall(SYS_setxattrat, dirfd, p.s, at_flags_for(p.s), nm.s, &a, sizeof a);
    note_result(s);
    if (xattrat_state > 0) { r = s < 0 ? -errno : 0; goto out; }
  }
  {
    xtarget t;
    r = xtarget_open(&t, dirfd, p.s);
    if (r == 0) {
      int s = t.follow ? setxattr(t.path, nm.s, val, vlen, flags) : lsetxattr(t.path, nm.s, val, vlen, flags);
      r = map_empty(p.s, s < 0 ? -errno : 0);
      xtarget_close(&t);
    }
  }
out:
  lfs_str_free(&p); lfs_str_free(&nm);
  return lfs_int(env, r);
}

static LFS_FN(js_removexattrat) {
  LFS_ARGS(3);
  int32_t dirfd;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  char n_stack[256]; lfs_str nm;
  if (lfs_arg_str(env, argv[2], "name", n_stack, sizeof n_stack, &nm)) { lfs_str_free(&p); return NULL; }
  int r = 0;
  if (p.has_nul || nm.has_nul) { r = -EINVAL; goto out; }
  if (use_syscalls(p.s)) {
    long s = syscall(SYS_removexattrat, dirfd, p.s, at_flags_for(p.s), nm.s);
    note_result(s);
    if (xattrat_state > 0) { r = s < 0 ? -errno : 0; goto out; }
  }
  {
    xtarget t;
    r = xtarget_open(&t, dirfd, p.s);
    if (r == 0) {
      int s = t.follow ? removexattr(t.path, nm.s) : lremovexattr(t.path, nm.s);
      r = map_empty(p.s, s < 0 ? -errno : 0);
      xtarget_close(&t);
    }
  }
out:
  lfs_str_free(&p); lfs_str_free(&nm);
  return lfs_int(env, r);
}

/* ---- fd forms ---- */

static LFS_FN(js_fgetxattr) {
  LFS_ARGS(2);
  int32_t fd;
  if (lfs_arg_i32(env, argv[0], "fd", &fd)) return NULL;
  char n_stack[256]; lfs_str nm;
  if (lfs_arg_str(env, argv[1], "name", n_stack, sizeof n_stack, &nm)) return NULL;
  LFS_NUL_CHECK(nm);
  xctx c = { 2, fd, NULL, 0, nm.s };
  char stackbuf[4096]; char *data;
  ssize_t n = sized_call(get_fn, &c, stackbuf, sizeof stackbuf, &data);
  lfs_str_free(&nm);
  return make_get_result(env, n, data, stackbuf);
}

static LFS_FN(js_flistxattr) {
  LFS_ARGS(1);
  int32_t fd;
  if (lfs_arg_i32(env, argv[0], "fd", &fd)) return NULL;
  xctx c = { 2, fd, NULL, 0, NULL };
  char stackbuf[4096]; char *data;
  ssize_t n = sized_call(list_fn, &c, stackbuf, sizeof stackbuf, &data);
  return make_list_result(env, n, data, stackbuf);
}

static LFS_FN(js_fsetxattr) {
  LFS_ARGS(4);
  int32_t fd, flags; void *val; size_t vlen;
  if (lfs_arg_i32(env, argv[0], "fd", &fd)) return NULL;
  char n_stack[256]; lfs_str nm;
  if (lfs_arg_str(env, argv[1], "name", n_stack, sizeof n_stack, &nm)) return NULL;
  if (lfs_arg_buf(env, argv[2], "value", &val, &vlen) ||
      lfs_arg_i32_opt(env, argv[3], "flags", 0, &flags)) { lfs_str_free(&nm); return NULL; }
  LFS_NUL_CHECK(nm);
  int r = fsetxattr(fd, nm.s, val, vlen, flags) < 0 ? -errno : 0;
  lfs_str_free(&nm);
  return lfs_int(env, r);
}

static LFS_FN(js_fremovexattr) {
  LFS_ARGS(2);
  int32_t fd;
  if (lfs_arg_i32(env, argv[0], "fd", &fd)) return NULL;
  char n_stack[256]; lfs_str nm;
  if (lfs_arg_str(env, argv[1], "name", n_stack, sizeof n_stack, &nm)) return NULL;
  LFS_NUL_CHECK(nm);
  int r = fremovexattr(fd, nm.s) < 0 ? -errno : 0;
  lfs_str_free(&nm);
  return lfs_int(env, r);
}

/* ---- test hooks ---- */

/* _xattrAtMode(force?: 'syscall' | 'fallback'): returns current mode string after probing */
static LFS_FN(js_xattr_mode) {
  LFS_ARGS(1);
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t == napi_string) {
    char buf[16]; size_t n;
    napi_get_value_string_utf8(env, argv[0], buf, sizeof buf, &n);
    if (strcmp(buf, "fallback") == 0) xattrat_state = -1;
    else if (strcmp(buf, "syscall") == 0 || strcmp(buf, "auto") == 0) xattrat_state = 0;
  }
  if (xattrat_state == 0) {
    long s = syscall(SYS_listxattrat, AT_FDCWD, ".", AT_SYMLINK_NOFOLLOW, NULL, 0);
    note_result(s);
  }
  napi_value r;
  napi_create_string_utf8(env, xattrat_state > 0 ? "syscall" : "fallback", NAPI_AUTO_LENGTH, &r);
  return r;
}

void lfs_init_xattr(napi_env env, napi_value exports) {
  lfs_export_fn(env, exports, "getxattrat", js_getxattrat);
  lfs_export_fn(env, exports, "setxattrat", js_setxattrat);
  lfs_export_fn(env, exports, "listxattrat", js_listxattrat);
  lfs_export_fn(env, exports, "removexattrat", js_removexattrat);
  lfs_export_fn(env, exports, "fgetxattr", js_fgetxattr);
  lfs_export_fn(env, exports, "fsetxattr", js_fsetxattr);
  lfs_export_fn(env, exports, "flistxattr", js_flistxattr);
  lfs_export_fn(env, exports, "fremovexattr", js_fremovexattr);
  lfs_export_fn(env, exports, "_xattrAtMode", js_xattr_mode);
}
