/* Path-based operations: open/openat2, stat, links, rename, mknod, chmod/chown, utimens.
 * Each function wraps exactly one system call and returns its result or -errno. */
#include "common.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <linux/openat2.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_statx
#define SYS_statx 332
#endif
#ifndef SYS_renameat2
#define SYS_renameat2 316
#endif

/* ---- open ---- */

int lfs_sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  long r = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  return r < 0 ? -errno : (int)r;
}

/* All fds we hand out are close-on-exec (like every fd libuv opens). */
static LFS_FN(js_openat) {
  LFS_ARGS(4);
  int32_t dirfd, flags, mode;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  if (lfs_arg_i32(env, argv[2], "flags", &flags) ||
      lfs_arg_i32_opt(env, argv[3], "mode", 0, &mode)) { lfs_str_free(&p); return NULL; }
  LFS_NUL_CHECK(p);
  int fd = openat(dirfd, p.s, flags | O_CLOEXEC, (mode_t)mode);
  int e = errno;
  lfs_str_free(&p);
  return lfs_int(env, fd < 0 ? -e : fd);
}

static LFS_FN(js_openat2) {
  LFS_ARGS(5);
  int32_t dirfd, flags, mode; uint64_t resolve;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  if (lfs_arg_i32(env, argv[2], "flags", &flags) ||
      lfs_arg_i32_opt(env, argv[3], "mode", 0, &mode) ||
      lfs_arg_u64(env, argv[4], "resolve", &resolve)) { lfs_str_free(&p); return NULL; }
  LFS_NUL_CHECK(p);
  int r = lfs_sys_openat2(dirfd, p.s, (uint64_t)(uint32_t)(flags | O_CLOEXEC), (uint64_t)(uint32_t)mode, resolve);
  lfs_str_free(&p);
  return lfs_int(env, r);
}

/* dup2(oldfd, newfd) -> newfd | -errno (the mount program's server points its stdio at /dev/null) */
static LFS_FN(js_dup2) {
  LFS_ARGS(2);
  int32_t oldfd, newfd;
  if (lfs_arg_i32(env, argv[0], "oldfd", &oldfd) || lfs_arg_i32(env, argv[1], "newfd", &newfd)) return NULL;
  int r = dup2(oldfd, newfd);
  return r < 0 ? lfs_errno(env) : lfs_int(env, r);
}

static LFS_FN(js_close) {
  LFS_ARGS(1);
  int32_t fd;
  if (lfs_arg_i32(env, argv[0], "fd", &fd)) return NULL;
  int r = close(fd);
  /* Linux always releases the fd, even on EINTR: never retry, treat as done */
  if (r < 0 && errno != EINTR) return lfs_errno(env);
  return lfs_int(env, 0);
}

/* ---- stat ---- */

/* Our own copy of the kernel's struct statx (stable UAPI) so that we do not
 * depend on the libc version having stx_mnt_id. */
struct lfs_statx_ts { int64_t tv_sec; uint32_t tv_nsec; int32_t reserved; };
struct lfs_statx {
  uint32_t stx_mask, stx_blksize;
  uint64_t stx_attributes;
  uint32_t stx_nlink, stx_uid, stx_gid;
  uint16_t stx_mode, spare0;
  uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
  struct lfs_statx_ts stx_atime, stx_btime, stx_ctime, stx_mtime;
  uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
  uint64_t stx_mnt_id;
  uint64_t spare[14];
};

#define LFS_STATX_WANT (0x07ffU /* BASIC_STATS */ | 0x0800U /* BTIME */ | 0x1000U /* MNT_ID */)
#define LFS_STATX_BTIME 0x0800U
#define LFS_STATX_MNT_ID 0x1000U

static int statx_state = 0; /* 0 unknown, 1 works, -1 ENOSYS */

static void fill_from_statx(double *a, const struct lfs_statx *s) {
  a[LFS_ST_DEV] = (double)makedev(s->stx_dev_major, s->stx_dev_minor);
  a[LFS_ST_INO] = (double)s->stx_ino;
  a[LFS_ST_MODE] = s->stx_mode;
  a[LFS_ST_NLINK] = s->stx_nlink;
  a[LFS_ST_UID] = s->stx_uid;
  a[LFS_ST_GID] = s->stx_gid;
  a[LFS_ST_RDEV] = (double)makedev(s->stx_rdev_major, s->stx_rdev_minor);
  a[LFS_ST_RDEV_MAJOR] = s->stx_rdev_major;
  a[LFS_ST_RDEV_MINOR] = s->stx_rdev_minor;
  a[LFS_ST_DEV_MAJOR] = s->stx_dev_major;
  a[LFS_ST_DEV_MINOR] = s->stx_dev_minor;
  a[LFS_ST_SIZE] = (double)s->stx_size;
  a[LFS_ST_BLOCKS] = (double)s->stx_blocks;
  a[LFS_ST_BLKSIZE] = s->stx_blksize;
  a[LFS_ST_ATIME_SEC] = (double)s->stx_atime.tv_sec;
  a[LFS_ST_ATIME_NSEC] = s->stx_atime.tv_nsec;
  a[LFS_ST_MTIME_SEC] = (double)s->stx_mtime.tv_sec;
  a[LFS_ST_MTIME_NSEC] = s->stx_mtime.tv_nsec;
  a[LFS_ST_CTIME_SEC] = (double)s->stx_ctime.tv_sec;
  a[LFS_ST_CTIME_NSEC] = s->stx_ctime.tv_nsec;
  if (s->stx_mask & LFS_STATX_BTIME) {
    a[LFS_ST_BTIME_SEC] = (double)s->stx_btime.tv_sec;
    a[LFS_ST_BTIME_NSEC] = s->stx_btime.tv_nsec;
  } else {
    a[LFS_ST_BTIME_SEC] = 0;
    a[LFS_ST_BTIME_NSEC] = 0;
  }
  a[LFS_ST_MNT_ID] = (s->stx_mask & LFS_STATX_MNT_ID) ? (double)s->stx_mnt_id : 0;
}

static void fill_from_stat(double *a, const struct stat *s) {
  a[LFS_ST_DEV] = (double)s->st_dev;
  a[LFS_ST_INO] = (double)s->st_ino;
  a[LFS_ST_MODE] = s->st_mode;
  a[LFS_ST_NLINK] = (double)s->st_nlink;
  a[LFS_ST_UID] = s->st_uid;
  a[LFS_ST_GID] = s->st_gid;
  a[LFS_ST_RDEV] = (double)s->st_rdev;
  a[LFS_ST_RDEV_MAJOR] = major(s->st_rdev);
  a[LFS_ST_RDEV_MINOR] = minor(s->st_rdev);
  a[LFS_ST_DEV_MAJOR] = major(s->st_dev);
  a[LFS_ST_DEV_MINOR] = minor(s->st_dev);
  a[LFS_ST_SIZE] = (double)s->st_size;
  a[LFS_ST_BLOCKS] = (double)s->st_blocks;
  a[LFS_ST_BLKSIZE] = (double)s->st_blksize;
  a[LFS_ST_ATIME_SEC] = (double)s->st_atim.tv_sec;
  a[LFS_ST_ATIME_NSEC] = (double)s->st_atim.tv_nsec;
  a[LFS_ST_MTIME_SEC] = (double)s->st_mtim.tv_sec;
  a[LFS_ST_MTIME_NSEC] = (double)s->st_mtim.tv_nsec;
  a[LFS_ST_CTIME_SEC] = (double)s->st_ctim.tv_sec;
  a[LFS_ST_CTIME_NSEC] = (double)s->st_ctim.tv_nsec;
  a[LFS_ST_BTIME_SEC] = 0;
  a[LFS_ST_BTIME_NSEC] = 0;
  a[LFS_ST_MNT_ID] = 0;
}

static int do_statx(int dirfd, const char *path, int flags, double *out) {
  if (statx_state >= 0) {
    struct lfs_statx sx;
    long r = syscall(SYS_statx, dirfd, path, flags, LFS_STATX_WANT, &sx);
    if (r == 0) { statx_state = 1; fill_from_statx(out, &sx); return 0; }
    if (errno != ENOSYS) return -errno;
    statx_state = -1;
  }
  struct stat st;
  if (fstatat(dirfd, path, &st, flags) < 0) return -errno;
  fill_from_stat(out, &st);
  return 0;
}

/* statx(dirfd, path, flags, out: Float64Array) -> 0 | -errno */
static LFS_FN(js_statx) {
  LFS_ARGS(4);
  int32_t dirfd, flags; double *out;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  if (lfs_arg_i32(env, argv[2], "flags", &flags) ||
      lfs_arg_f64arr(env, argv[3], "out", LFS_ST_COUNT, &out)) { lfs_str_free(&p); return NULL; }
  LFS_NUL_CHECK(p);
  int r = do_statx(dirfd, p.s, flags, out);
  lfs_str_free(&p);
  return lfs_int(env, r);
}

/* fstat(fd, out) -> 0 | -errno (statx with AT_EMPTY_PATH; works on O_PATH fds) */
static LFS_FN(js_fstat) {
  LFS_ARGS(2);
  int32_t fd; double *out;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) ||
      lfs_arg_f64arr(env, argv[1], "out", LFS_ST_COUNT, &out)) return NULL;
  return lfs_int(env, do_statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, out));
}

/* ---- links, names ---- */

static LFS_FN(js_readlinkat) {
  LFS_ARGS(2);
  int32_t dirfd;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  LFS_NUL_CHECK(p);
  char stackbuf[1024];
  char *buf = stackbuf;
  size_t cap = sizeof stackbuf;
  napi_value result = NULL;
  for (;;) {
    ssize_t n = readlinkat(dirfd, p.s, buf, cap);
    if (n < 0) { result = lfs_errno(env); break; }
    if ((size_t)n < cap) {
      napi_create_string_utf8(env, buf, (size_t)n, &result);
      break;
    }
    /* possibly truncated: grow and retry */
    if (cap >= (1u << 24)) { result = lfs_int(env, -ENAMETOOLONG); break; }
    size_t ncap = cap * 4;
    char *nb = buf == stackbuf ? malloc(ncap) : realloc(buf, ncap);
    if (!nb) { result = lfs_int(env, -ENOMEM); break; }
    buf = nb; cap = ncap;
  }
  if (buf != stackbuf) free(buf);
  lfs_str_free(&p);
  return result;
}

static LFS_FN(js_mkdirat) {
  LFS_ARGS(3);
  int32_t dirfd, mode;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  if (lfs_arg_i32(env, argv[2], "mode", &mode)) { lfs_str_free(&p); return NULL; }
  LFS_NUL_CHECK(p);
  int r = mkdirat(dirfd, p.s, (mode_t)mode) < 0 ? -errno : 0;
  lfs_str_free(&p);
  return lfs_int(env, r);
}

static LFS_FN(js_mknodat) {
  LFS_ARGS(4);
  int32_t dirfd, mode; uint64_t dev;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  if (lfs_arg_i32(env, argv[2], "mode", &mode) ||
      lfs_arg_u64(env, argv[3], "dev", &dev)) { lfs_str_free(&p); return NULL; }
  LFS_NUL_CHECK(p);
  int r = mknodat(dirfd, p.s, (mode_t)mode, (dev_t)dev) < 0 ? -errno : 0;
  lfs_str_free(&p);
  return lfs_int(env, r);
}

static LFS_FN(js_makedev) {
  LFS_ARGS(2);
  uint32_t ma, mi;
  if (lfs_arg_u32(env, argv[0], "major", &ma) || lfs_arg_u32(env, argv[1], "minor", &mi)) return NULL;
  return lfs_num(env, (double)makedev(ma, mi));
}

static LFS_FN(js_major) {
  LFS_ARGS(1);
  uint64_t d;
  if (lfs_arg_u64(env, argv[0], "dev", &d)) return NULL;
  return lfs_num(env, (double)major((dev_t)d));
}

static LFS_FN(js_minor) {
  LFS_ARGS(1);
  uint64_t d;
  if (lfs_arg_u64(env, argv[0], "dev", &d)) return NULL;
  return lfs_num(env, (double)minor((dev_t)d));
}

static LFS_FN(js_symlinkat) {
  LFS_ARGS(3);
  int32_t dirfd;
  LFS_STR(t, 0, "target");
  if (lfs_arg_i32(env, argv[1], "dirfd", &dirfd)) { lfs_str_free(&t); return NULL; }
  char p_stack[LFS_PATH_STACK]; lfs_str p;
  if (lfs_arg_str(env, argv[2], "path", p_stack, sizeof p_stack, &p)) { lfs_str_free(&t); return NULL; }
  int r;
  if (t.has_nul || p.has_nul) r = -EINVAL;
  else r = symlinkat(t.s, dirfd, p.s) < 0 ? -errno : 0;
  lfs_str_free(&t); lfs_str_free(&p);
  return lfs_int(env, r);
}

/* linkat / renameat2 share the (olddirfd, oldpath, newdirfd, newpath, flags) shape */
static int two_paths(napi_env env, napi_value *argv, int32_t *ofd, lfs_str *op, char *obuf,
                     int32_t *nfd, lfs_str *np, char *nbuf, int32_t *flags) {
  if (lfs_arg_i32(env, argv[0], "olddirfd", ofd)) return -1;
  if (lfs_arg_str(env, argv[1], "oldpath", obuf, LFS_PATH_STACK, op)) return -1;
  if (lfs_arg_i32(env, argv[2], "newdirfd", nfd) ||
      lfs_arg_str(env, argv[3], "newpath", nbuf, LFS_PATH_STACK, np)) { lfs_str_free(op); return -1; }
  if (lfs_arg_i32_opt(env, argv[4], "flags", 0, flags)) { lfs_str_free(op); lfs_str_free(np); return -1; }
  return 0;
}

static LFS_FN(js_linkat) {
  LFS_ARGS(5);
  int32_t ofd, nfd, flags; lfs_str op, np;
  char obuf[LFS_PATH_STACK], nbuf[LFS_PATH_STACK];
  if (two_paths(env, argv, &ofd, &op, obuf, &nfd, &np, nbuf, &flags)) return NULL;
  int r;
  if (op.has_nul || np.has_nul) r = -EINVAL;
  else r = linkat(ofd, op.s, nfd, np.s, flags) < 0 ? -errno : 0;
  lfs_str_free(&op); lfs_str_free(&np);
  return lfs_int(env, r);
}

static LFS_FN(js_renameat2) {
  LFS_ARGS(5);
  int32_t ofd, nfd, flags; lfs_str op, np;
  char obuf[LFS_PATH_STACK], nbuf[LFS_PATH_STACK];
  if (two_paths(env, argv, &ofd, &op, obuf, &nfd, &np, nbuf, &flags)) return NULL;
  int r;
  if (op.has_nul || np.has_nul) r = -EINVAL;
  else r = syscall(SYS_renameat2, ofd, op.s, nfd, np.s, (unsigned)flags) < 0 ? -errno : 0;
  lfs_str_free(&op); lfs_str_free(&np);
  return lfs_int(env, r);
}

static LFS_FN(js_unlinkat) {
  LFS_ARGS(3);
  int32_t dirfd, flags;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  if (lfs_arg_i32_opt(env, argv[2], "flags", 0, &flags)) { lfs_str_free(&p); return NULL; }
  LFS_NUL_CHECK(p);
  int r = unlinkat(dirfd, p.s, flags) < 0 ? -errno : 0;
  lfs_str_free(&p);
  return lfs_int(env, r);
}

/* ---- ownership, mode, times ---- */

static LFS_FN(js_fchownat) {
  LFS_ARGS(5);
  int32_t dirfd, uid, gid, flags;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  if (lfs_arg_i32(env, argv[2], "uid", &uid) || lfs_arg_i32(env, argv[3], "gid", &gid) ||
      lfs_arg_i32_opt(env, argv[4], "flags", AT_SYMLINK_NOFOLLOW, &flags)) { lfs_str_free(&p); return NULL; }
  LFS_NUL_CHECK(p);
  int r = fchownat(dirfd, p.s, (uid_t)uid, (gid_t)gid, flags) < 0 ? -errno : 0;
  lfs_str_free(&p);
  return lfs_int(env, r);
}

static LFS_FN(js_fchmodat) {
  LFS_ARGS(4);
  int32_t dirfd, mode, flags;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  if (lfs_arg_i32(env, argv[2], "mode", &mode) ||
      lfs_arg_i32_opt(env, argv[3], "flags", 0, &flags)) { lfs_str_free(&p); return NULL; }
  LFS_NUL_CHECK(p);
  int r = fchmodat(dirfd, p.s, (mode_t)mode, flags) < 0 ? -errno : 0;
  lfs_str_free(&p);
  return lfs_int(env, r);
}

static LFS_FN(js_fchmod) {
  LFS_ARGS(2);
  int32_t fd, mode;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_i32(env, argv[1], "mode", &mode)) return NULL;
  return lfs_int(env, fchmod(fd, (mode_t)mode) < 0 ? -errno : 0);
}

static LFS_FN(js_fchown) {
  LFS_ARGS(3);
  int32_t fd, uid, gid;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_i32(env, argv[1], "uid", &uid) ||
      lfs_arg_i32(env, argv[2], "gid", &gid)) return NULL;
  return lfs_int(env, fchown(fd, (uid_t)uid, (gid_t)gid) < 0 ? -errno : 0);
}

/* utimensat(dirfd, path, aSec, aNsec, mSec, mNsec, flags) */
static LFS_FN(js_utimensat) {
  LFS_ARGS(7);
  int32_t dirfd, flags; int64_t as, an, ms, mn;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  LFS_STR(p, 1, "path");
  if (lfs_arg_i64(env, argv[2], "atimeSec", &as) || lfs_arg_i64(env, argv[3], "atimeNsec", &an) ||
      lfs_arg_i64(env, argv[4], "mtimeSec", &ms) || lfs_arg_i64(env, argv[5], "mtimeNsec", &mn) ||
      lfs_arg_i32_opt(env, argv[6], "flags", AT_SYMLINK_NOFOLLOW, &flags)) { lfs_str_free(&p); return NULL; }
  LFS_NUL_CHECK(p);
  struct timespec ts[2];
  ts[0].tv_sec = as; ts[0].tv_nsec = an;
  ts[1].tv_sec = ms; ts[1].tv_nsec = mn;
  /* raw syscall: glibc's wrapper is fine too, but this keeps '' + AT_EMPTY_PATH untouched */
  int r = syscall(SYS_utimensat, dirfd, p.s, ts, flags) < 0 ? -errno : 0;
  lfs_str_free(&p);
  return lfs_int(env, r);
}

void lfs_init_path_ops(napi_env env, napi_value exports) {
  lfs_export_fn(env, exports, "openat", js_openat);
  lfs_export_fn(env, exports, "openat2", js_openat2);
  lfs_export_fn(env, exports, "close", js_close);
  lfs_export_fn(env, exports, "dup2", js_dup2);
  lfs_export_fn(env, exports, "statx", js_statx);
  lfs_export_fn(env, exports, "fstat", js_fstat);
  lfs_export_fn(env, exports, "readlinkat", js_readlinkat);
  lfs_export_fn(env, exports, "mkdirat", js_mkdirat);
  lfs_export_fn(env, exports, "mknodat", js_mknodat);
  lfs_export_fn(env, exports, "makedev", js_makedev);
  lfs_export_fn(env, exports, "major", js_major);
  lfs_export_fn(env, exports, "minor", js_minor);
  lfs_export_fn(env, exports, "symlinkat", js_symlinkat);
  lfs_export_fn(env, exports, "linkat", js_linkat);
  lfs_export_fn(env, exports, "unlinkat", js_unlinkat);
  lfs_export_fn(env, exports, "renameat2", js_renameat2);
  lfs_export_fn(env, exports, "fchownat", js_fchownat);
  lfs_export_fn(env, exports, "fchmodat", js_fchmodat);
  lfs_export_fn(env, exports, "fchmod", js_fchmod);
  lfs_export_fn(env, exports, "fchown", js_fchown);
  lfs_export_fn(env, exports, "utimensat", js_utimensat);
}
