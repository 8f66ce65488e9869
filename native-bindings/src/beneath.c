/* openBeneath: open a path that must stay below dirfd, never following symlinks.
 * Primary: openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS).
 * Fallback (kernel < 5.6, or openat2 filtered with ENOSYS): a component walk with
 * O_NOFOLLOW opens, refusing '..' and absolute paths (EXDEV) and any symlink (ELOOP). */
#include "common.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/openat2.h>

#define BENEATH_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

static int openat2_state = 0; /* 0 unknown, 1 available, -1 ENOSYS */

static unsigned mask_mode(int flags, unsigned mode) {
  /* openat2 rejects a mode without O_CREAT/O_TMPFILE; openat ignores it. Be uniform. */
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) return mode & 07777;
  return 0;
}

int lfs_open_beneath_walk(int dirfd, const char *path, int flags, unsigned mode) {
  if (path[0] == '/') return -EXDEV;
  if (path[0] == 0) return -ENOENT;
  mode = mask_mode(flags, mode);

  size_t len = strlen(path);
  char stackbuf[LFS_PATH_STACK];
  char *buf = len + 1 <= sizeof stackbuf ? stackbuf : malloc(len + 1);
  if (!buf) return -ENOMEM;
  memcpy(buf, path, len + 1);

  int trailing_slash = 0;
  while (len > 0 && buf[len - 1] == '/') { buf[--len] = 0; trailing_slash = 1; }

  /* Refuse '..' anywhere up front: nothing is opened for such a path. */
  for (char *c = buf; *c; ) {
    char *e = strchr(c, '/');
    size_t n = e ? (size_t)(e - c) : strlen(c);
    if (n == 2 && c[0] == '.' && c[1] == '.') { if (buf != stackbuf) free(buf); return -EXDEV; }
    if (!e) break;
    c = e + 1;
  }

  int cur = dirfd, owned = 0, result = 0;
  char *p = buf;
  const char *last = ".";
  for (;;) {
    while (*p == '/') p++;
    if (!*p) break;
    char *e = strchr(p, '/');
    if (e) *e = 0;
    char *comp = p;
    p = e ? e + 1 : p + strlen(p);
    /* find whether another non-empty component follows */
    char *q = p;
    while (*q == '/') q++;
    int is_last = (*q == 0);
    if (comp[0] == '.' && comp[1] == 0) { if (is_last) break; else continue; }
    if (is_last) { last = comp; break; }
    int fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      int e2 = errno;
      if (e2 == ENOTDIR) {
        struct stat st;
        if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) e2 = ELOOP;
      }
      result = -e2;
      goto out;
    }
    if (owned) close(cur);
    cur = fd; owned = 1;
  }

  {
    int fl = flags | O_NOFOLLOW | O_CLOEXEC;
    if (trailing_slash) {
      if (flags & O_CREAT) { result = -EISDIR; goto out; }
      fl |= O_DIRECTORY;
    }
    int fd = openat(cur, last, fl, (mode_t)mode);
    if (fd < 0) {
      int e2 = errno;
      if (e2 == ENOTDIR && (fl & O_DIRECTORY)) {
        struct stat st;
        if (fstatat(cur, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) e2 = ELOOP;
      }
      result = -e2;
      goto out;
    }
    if ((flags & O_PATH) && !(flags & O_NOFOLLOW)) {
      /* O_PATH without O_NOFOLLOW would follow a final symlink: refuse like RESOLVE_NO_SYMLINKS */
      struct stat st;
      if (fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) { close(fd); result = -ELOOP; goto out; }
    }
    result = fd;
  }
out:
  if (owned) close(cur);
  if (buf != stackbuf) free(buf);
  return result;
}

static int open_beneath(int dirfd, const char *path, int flags, unsigned mode) {
  if (openat2_state >= 0) {
    int r = lfs_sys_openat2(dirfd, path, (uint64_t)(uint32_t)(flags | O_CLOEXEC),
                            mask_mode(flags, mode), BENEATH_RESOLVE);
    if (r != -ENOSYS) { openat2_state = 1; return r; }
    openat2_state = -1;
  }
  return lfs_open_beneath_walk(dirfd, path, flags, mode);
}

typedef int (*beneath_fn)(int, const char *, int, unsigned);

static napi_value call(napi_env env, napi_callback_info info, beneath_fn fn) {
  LFS_ARGS(4);
  int32_t dirfd, flags, mode;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  if (lfs_arg_i32(env, argv[2], "flags", &flags) ||
      lfs_arg_i32_opt(env, argv[3], "mode", 0, &mode)) { lfs_str_free(&p); return NULL; }
  LFS_NUL_CHECK(p);
  int r = fn(dirfd, p.s, flags, (unsigned)mode);
  lfs_str_free(&p);
  return lfs_int(env, r);
}

static LFS_FN(js_open_beneath) { return call(env, info, open_beneath); }
static LFS_FN(js_open_beneath_walk) { return call(env, info, lfs_open_beneath_walk); }

/* _openat2Available(): true/false once probed (probes with a harmless call) */
static LFS_FN(js_openat2_available) {
  if (openat2_state == 0) {
    int r = lfs_sys_openat2(AT_FDCWD, ".", O_PATH | O_CLOEXEC, 0, 0);
    if (r >= 0) close(r);
    openat2_state = r == -ENOSYS ? -1 : 1;
  }
  napi_value b;
  napi_get_boolean(env, openat2_state > 0, &b);
  return b;
}

void lfs_init_beneath(napi_env env, napi_value exports) {
  lfs_export_fn(env, exports, "openBeneath", js_open_beneath);
  lfs_export_fn(env, exports, "_openBeneathWalk", js_open_beneath_walk);
  lfs_export_fn(env, exports, "_openat2Available", js_openat2_available);
}
