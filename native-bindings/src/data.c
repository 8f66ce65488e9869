/* File data operations: copy_file_range, FICLONE(RANGE), lseek, fallocate, sync, fstatfs,
 * ftruncate, plus Promise-returning async forms run on threads of the addon's own.
 *
 * Why not libuv's thread pool: a process that mounts layerfs and also uses the mount itself
 * (fs.promises on the merged tree) fills libuv's 4 threads with calls that wait on FUSE; the
 * copy-up those calls wait for would then queue behind them forever. Our jobs never enter
 * the mount, so their own threads can always make progress. */
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <linux/fs.h>

/* ---- raw operations (return result or -errno; safe on any thread) ---- */

static int64_t op_copy_file_range(int fdin, int has_in, int64_t offin, int fdout, int has_out,
                                  int64_t offout, uint64_t len, unsigned flags) {
  loff_t oi = offin, oo = offout;
  ssize_t r = copy_file_range(fdin, has_in ? &oi : NULL, fdout, has_out ? &oo : NULL, (size_t)len, flags);
  return r < 0 ? -errno : r;
}

static int64_t op_ficlone(int dest, int src) {
  return ioctl(dest, FICLONE, src) < 0 ? -errno : 0;
}

static int64_t op_ficlone_range(int dest, int src, uint64_t srcoff, uint64_t len, uint64_t destoff) {
  struct file_clone_range r;
  r.src_fd = src; r.src_offset = srcoff; r.src_length = len; r.dest_offset = destoff;
  return ioctl(dest, FICLONERANGE, &r) < 0 ? -errno : 0;
}

static int64_t op_fallocate(int fd, int mode, int64_t off, int64_t len) {
  return fallocate(fd, mode, off, len) < 0 ? -errno : 0;
}

static int64_t op_fsync(int fd) { return fsync(fd) < 0 ? -errno : 0; }
static int64_t op_fdatasync(int fd) { return fdatasync(fd) < 0 ? -errno : 0; }
static int64_t op_syncfs(int fd) { return syncfs(fd) < 0 ? -errno : 0; }
/* flock(2): a lock the kernel drops when the last fd of its open file closes (no stale lock after SIGKILL) */
static int64_t op_flock(int fd, int op) { return flock(fd, op) < 0 ? -errno : 0; }

/* ---- sync exports ---- */

/* copyFileRange(fdIn, offIn|null, fdOut, offOut|null, len, flags=0) -> bytes | -errno */
typedef struct { int32_t fdin, fdout, flags; int64_t offin, offout; int has_in, has_out; uint64_t len; } cfr_args;

static int get_cfr_args(napi_env env, napi_value *argv, cfr_args *a) {
  if (lfs_arg_i32(env, argv[0], "fdIn", &a->fdin) ||
      lfs_arg_i64_nullable(env, argv[1], "offIn", &a->offin, &a->has_in) ||
      lfs_arg_i32(env, argv[2], "fdOut", &a->fdout) ||
      lfs_arg_i64_nullable(env, argv[3], "offOut", &a->offout, &a->has_out) ||
      lfs_arg_u64(env, argv[4], "len", &a->len) ||
      lfs_arg_i32_opt(env, argv[5], "flags", 0, &a->flags)) return -1;
  return 0;
}

static LFS_FN(js_copy_file_range) {
  LFS_ARGS(6);
  cfr_args a;
  if (get_cfr_args(env, argv, &a)) return NULL;
  return lfs_int(env, op_copy_file_range(a.fdin, a.has_in, a.offin, a.fdout, a.has_out, a.offout, a.len, (unsigned)a.flags));
}

static LFS_FN(js_ficlone) {
  LFS_ARGS(2);
  int32_t d, s;
  if (lfs_arg_i32(env, argv[0], "destFd", &d) || lfs_arg_i32(env, argv[1], "srcFd", &s)) return NULL;
  return lfs_int(env, op_ficlone(d, s));
}

static LFS_FN(js_ficlone_range) {
  LFS_ARGS(5);
  int32_t d, s; uint64_t so, len, dso;
  if (lfs_arg_i32(env, argv[0], "destFd", &d) || lfs_arg_i32(env, argv[1], "srcFd", &s) ||
      lfs_arg_u64(env, argv[2], "srcOff", &so) || lfs_arg_u64(env, argv[3], "len", &len) ||
      lfs_arg_u64(env, argv[4], "destOff", &dso)) return NULL;
  return lfs_int(env, op_ficlone_range(d, s, so, len, dso));
}

static LFS_FN(js_lseek) {
  LFS_ARGS(3);
  int32_t fd, whence; int64_t off;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_i64(env, argv[1], "offset", &off) ||
      lfs_arg_i32(env, argv[2], "whence", &whence)) return NULL;
  off_t r = lseek(fd, off, whence);
  return lfs_int(env, r < 0 ? -errno : r);
}

static LFS_FN(js_fallocate) {
  LFS_ARGS(4);
  int32_t fd, mode; int64_t off, len;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_i32(env, argv[1], "mode", &mode) ||
      lfs_arg_i64(env, argv[2], "offset", &off) || lfs_arg_i64(env, argv[3], "len", &len)) return NULL;
  return lfs_int(env, op_fallocate(fd, mode, off, len));
}

#define FD_ONLY(jsname, op)                                             \
  static LFS_FN(jsname) {                                               \
    LFS_ARGS(1);                                                        \
    int32_t fd;                                                         \
    if (lfs_arg_i32(env, argv[0], "fd", &fd)) return NULL;              \
    return lfs_int(env, op(fd));                                        \
  }
FD_ONLY(js_fsync, op_fsync)
FD_ONLY(js_fdatasync, op_fdatasync)
FD_ONLY(js_syncfs, op_syncfs)

/* flock(fd, op) -> 0 | -errno; op: LOCK_SH | LOCK_EX | LOCK_UN, | LOCK_NB */
static LFS_FN(js_flock) {
  LFS_ARGS(2);
  int32_t fd, op;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_i32(env, argv[1], "op", &op)) return NULL;
  return lfs_int(env, op_flock(fd, op));
}

static LFS_FN(js_ftruncate) {
  LFS_ARGS(2);
  int32_t fd; int64_t len;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_i64(env, argv[1], "len", &len)) return NULL;
  return lfs_int(env, ftruncate(fd, len) < 0 ? -errno : 0);
}

/* fstatfs(fd, out: Float64Array) -> 0 | -errno */
static LFS_FN(js_fstatfs) {
  LFS_ARGS(2);
  int32_t fd; double *o;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_f64arr(env, argv[1], "out", LFS_SFS_COUNT, &o)) return NULL;
  struct statfs s;
  if (fstatfs(fd, &s) < 0) return lfs_errno(env);
  o[LFS_SFS_TYPE] = (double)(unsigned long)s.f_type;
  o[LFS_SFS_BSIZE] = (double)s.f_bsize;
  o[LFS_SFS_BLOCKS] = (double)s.f_blocks;
  o[LFS_SFS_BFREE] = (double)s.f_bfree;
  o[LFS_SFS_BAVAIL] = (double)s.f_bavail;
  o[LFS_SFS_FILES] = (double)s.f_files;
  o[LFS_SFS_FFREE] = (double)s.f_ffree;
  o[LFS_SFS_NAMELEN] = (double)s.f_namelen;
  o[LFS_SFS_FRSIZE] = (double)s.f_frsize;
  o[LFS_SFS_FLAGS] = (double)s.f_flags;
  return lfs_int(env, 0);
}

/* ---- async: one job type, the Promise resolves with result or -errno ---- */

enum { JOB_CFR, JOB_FICLONE, JOB_FALLOCATE, JOB_FSYNC, JOB_FDATASYNC, JOB_SYNCFS, JOB_CREATE_FILES, JOB_FLOCK };

typedef struct job {
  struct job *next;              /* in the queue */
  napi_threadsafe_function done; /* brings the job back to its JS thread */
  napi_deferred deferred;
  int op;
  cfr_args cfr;
  int32_t fd, fd2, mode;
  int64_t off, len;
  int64_t result;
  /* JOB_CREATE_FILES: `count` files named prefix + 0..count-1, their fds (or -errno) in `fds` */
  char *prefix;
  int32_t count;
  int32_t *fds;
  /* set (non-zero) by JS to stop a fill: the job makes no more files and removes those it made */
  int32_t *cancel;
  napi_ref cancel_ref;
  /* under link_lock: the tsfn was destroyed (its environment went away), and how many of the two
   * owners (the result's path, the tsfn's finalizer) still hold the job */
  int tsfn_gone;
  int owners;
} job;

static int cancelled(const job *j) {
  int32_t *c = __atomic_load_n(&j->cancel, __ATOMIC_ACQUIRE);
  return c != NULL && __atomic_load_n(c, __ATOMIC_ACQUIRE) != 0;
}

/* Creates empty files (O_CREAT|O_EXCL, never following a link) and keeps them open read-write.
 * Stops at the first failure; the slots after it say -ECANCELED. */
static void op_create_files(job *j) {
  size_t plen = strlen(j->prefix);
  char *name = malloc(plen + 16);
  int failed = 0;
  for (int32_t i = 0; i < j->count; i++) {
    if (failed || name == NULL || cancelled(j)) { j->fds[i] = name == NULL ? -ENOMEM : -ECANCELED; continue; }
    snprintf(name, plen + 16, "%s%d", j->prefix, i);
    int fd = openat(j->fd, name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, (mode_t)j->mode);
    j->fds[i] = fd < 0 ? -errno : fd;
    if (fd < 0) failed = 1;
  }
  /* Stopped meanwhile (the mount went away): leave nothing behind in a directory that its owner
   * may be removing right now. */
  if (name != NULL && cancelled(j)) {
    for (int32_t i = 0; i < j->count; i++) {
      if (j->fds[i] < 0) continue;
      snprintf(name, plen + 16, "%s%d", j->prefix, i);
      unlinkat(j->fd, name, 0);
      close(j->fds[i]);
      j->fds[i] = -ECANCELED;
    }
  }
  free(name);
}

static void job_run(job *j) {
  switch (j->op) {
    case JOB_CFR:
      j->result = op_copy_file_range(j->cfr.fdin, j->cfr.has_in, j->cfr.offin, j->cfr.fdout,
                                     j->cfr.has_out, j->cfr.offout, j->cfr.len, (unsigned)j->cfr.flags);
      break;
    case JOB_FICLONE: j->result = op_ficlone(j->fd, j->fd2); break;
    case JOB_FALLOCATE: j->result = op_fallocate(j->fd, j->mode, j->off, j->len); break;
    case JOB_FSYNC: j->result = op_fsync(j->fd); break;
    case JOB_FDATASYNC: j->result = op_fdatasync(j->fd); break;
    case JOB_SYNCFS: j->result = op_syncfs(j->fd); break;
    case JOB_CREATE_FILES: op_create_files(j); j->result = 0; break;
    case JOB_FLOCK: j->result = op_flock(j->fd, j->mode); break;
    default: j->result = -EINVAL;
  }
}

static void job_free(job *j) {
  free(j->prefix);
  free(j->fds);
  free(j);
}

/*
 * Who frees a job. A job has two owners: the path that delivers its result (job_done on its JS
 * thread, or the job thread itself when there is no JS thread left to deliver to) and its tsfn's
 * finalizer. Node destroys a tsfn when its environment goes away (a worker thread that served a
 * mount exits) even while a job thread still holds it, so a job thread may touch the tsfn only
 * under link_lock and only while the finalizer, which takes link_lock too, has not run.
 */
static pthread_mutex_t link_lock = PTHREAD_MUTEX_INITIALIZER;

/* Under link_lock. */
static void job_release_owner(job *j) {
  if (--j->owners == 0) job_free(j);
}

/* A fill whose files nobody will take: closed (their names stay for the pool's next start to
 * sweep, as after a crash). */
static void job_drop_files(job *j) {
  if (j->op == JOB_CREATE_FILES)
    for (int32_t i = 0; i < j->count; i++) if (j->fds[i] >= 0) close(j->fds[i]);
}

/* The tsfn is being destroyed. Its environment may be going away: a fill still running stops
 * and removes what it made (nobody will take it, and the cancel flag's memory goes too). */
static int32_t always_cancelled = 1;
static void job_tsfn_finalized(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  job *j = data;
  pthread_mutex_lock(&link_lock);
  j->tsfn_gone = 1;
  __atomic_store_n(&j->cancel, &always_cancelled, __ATOMIC_RELEASE);
  job_release_owner(j);
  pthread_mutex_unlock(&link_lock);
}

/* On the job's JS thread; env is NULL when its environment went away before the result came. */
static void job_done(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb; (void)context;
  job *j = data;
  if (env == NULL) {
    job_drop_files(j);
  } else if (j->op == JOB_CREATE_FILES) {
    napi_value arr;
    napi_create_array_with_length(env, (size_t)j->count, &arr);
    for (int32_t i = 0; i < j->count; i++) napi_set_element(env, arr, (uint32_t)i, lfs_int(env, j->fds[i]));
    napi_resolve_deferred(env, j->deferred, arr);
    if (j->cancel_ref != NULL) napi_delete_reference(env, j->cancel_ref);
  } else {
    napi_resolve_deferred(env, j->deferred, lfs_int(env, j->result));
  }
  pthread_mutex_lock(&link_lock);
  job_release_owner(j);
  pthread_mutex_unlock(&link_lock);
}

/* ---- the job threads: made on demand, up to JOB_THREADS_MAX, then kept for the process ---- */

#define JOB_THREADS_MAX 8

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_ready = PTHREAD_COND_INITIALIZER;
static job *queue_head, *queue_tail;
static int threads_started, threads_idle;

/* Hands the result to the job's JS thread, or, when that is gone, cleans up here. */
static void job_deliver(job *j) {
  pthread_mutex_lock(&link_lock);
  if (j->tsfn_gone) {
    job_drop_files(j);
    job_release_owner(j);
  } else {
    /* (never blocks: the tsfn's queue is unbounded) */
    if (napi_call_threadsafe_function(j->done, j, napi_tsfn_nonblocking) != napi_ok) {
      job_drop_files(j); /* closing: job_done will not run */
      j->owners--;       /* the finalizer, still to come, holds the other */
    }
    napi_release_threadsafe_function(j->done, napi_tsfn_release);
  }
  pthread_mutex_unlock(&link_lock);
}

static void *job_thread(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&queue_lock);
    threads_idle++;
    while (queue_head == NULL) pthread_cond_wait(&queue_ready, &queue_lock);
    threads_idle--;
    job *j = queue_head;
    queue_head = j->next;
    if (queue_head == NULL) queue_tail = NULL;
    pthread_mutex_unlock(&queue_lock);

    pthread_mutex_lock(&link_lock);
    int gone = j->tsfn_gone;
    pthread_mutex_unlock(&link_lock);
    if (!gone) {
      job_run(j);
    } else { /* its environment went away while it waited: nothing to do */
      j->result = -ECANCELED;
      if (j->op == JOB_CREATE_FILES) for (int32_t i = 0; i < j->count; i++) j->fds[i] = -ECANCELED;
    }
    job_deliver(j);
  }
  return NULL;
}

/* Queues a job; starts a thread when none is idle and the limit allows (else it waits its turn). */
static void submit_job(job *j) {
  pthread_mutex_lock(&queue_lock);
  j->next = NULL;
  if (queue_tail != NULL) queue_tail->next = j; else queue_head = j;
  queue_tail = j;
  if (threads_idle == 0 && threads_started < JOB_THREADS_MAX) {
    /* signals stay with Node's own threads */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &attr, job_thread, NULL) == 0) threads_started++;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  pthread_cond_signal(&queue_ready);
  pthread_mutex_unlock(&queue_lock);
}

static void job_discard(napi_env env, job *j) {
  if (j->cancel_ref != NULL) napi_delete_reference(env, j->cancel_ref);
  job_free(j);
}

static napi_value queue_job(napi_env env, job *j, const char *name) {
  napi_value promise, rname;
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok) {
    job_discard(env, j);
    return NULL;
  }
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &rname);
  /* holds the event loop open until the job is back, as an async work would */
  j->owners = 2; /* the result's path and the tsfn's finalizer */
  if (napi_create_threadsafe_function(env, NULL, NULL, rname, 0, 1, j, job_tsfn_finalized, NULL, job_done,
                                      &j->done) != napi_ok) {
    napi_value code, msg, err;
    napi_create_string_utf8(env, "ENOMEM", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, "layerfs native: cannot start a job", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, j->deferred, err);
    job_discard(env, j);
    return promise;
  }
  submit_job(j);
  return promise;
}

static job *new_job(napi_env env, int op) {
  job *j = calloc(1, sizeof *j);
  if (!j) napi_throw_error(env, "ENOMEM", "layerfs native: out of memory");
  else j->op = op;
  return j;
}

static LFS_FN(js_copy_file_range_async) {
  LFS_ARGS(6);
  cfr_args a;
  if (get_cfr_args(env, argv, &a)) return NULL;
  job *j = new_job(env, JOB_CFR);
  if (!j) return NULL;
  j->cfr = a;
  return queue_job(env, j, "layerfs:copyFileRange");
}

static LFS_FN(js_ficlone_async) {
  LFS_ARGS(2);
  int32_t d, s;
  if (lfs_arg_i32(env, argv[0], "destFd", &d) || lfs_arg_i32(env, argv[1], "srcFd", &s)) return NULL;
  job *j = new_job(env, JOB_FICLONE);
  if (!j) return NULL;
  j->fd = d; j->fd2 = s;
  return queue_job(env, j, "layerfs:ficlone");
}

static LFS_FN(js_fallocate_async) {
  LFS_ARGS(4);
  int32_t fd, mode; int64_t off, len;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_i32(env, argv[1], "mode", &mode) ||
      lfs_arg_i64(env, argv[2], "offset", &off) || lfs_arg_i64(env, argv[3], "len", &len)) return NULL;
  job *j = new_job(env, JOB_FALLOCATE);
  if (!j) return NULL;
  j->fd = fd; j->mode = mode; j->off = off; j->len = len;
  return queue_job(env, j, "layerfs:fallocate");
}

#define FD_ASYNC(jsname, OP, label)                                     \
  static LFS_FN(jsname) {                                               \
    LFS_ARGS(1);                                                        \
    int32_t fd;                                                         \
    if (lfs_arg_i32(env, argv[0], "fd", &fd)) return NULL;              \
    job *j = new_job(env, OP);                                          \
    if (!j) return NULL;                                                \
    j->fd = fd;                                                         \
    return queue_job(env, j, label);                                    \
  }
FD_ASYNC(js_fsync_async, JOB_FSYNC, "layerfs:fsync")
FD_ASYNC(js_fdatasync_async, JOB_FDATASYNC, "layerfs:fdatasync")
FD_ASYNC(js_syncfs_async, JOB_SYNCFS, "layerfs:syncfs")

/* flockAsync(fd, op) -> Promise<0 | -errno>: a blocking wait for a lock, on a job thread */
static LFS_FN(js_flock_async) {
  LFS_ARGS(2);
  int32_t fd, op;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_i32(env, argv[1], "op", &op)) return NULL;
  job *j = new_job(env, JOB_FLOCK);
  if (!j) return NULL;
  j->fd = fd; j->mode = op;
  return queue_job(env, j, "layerfs:flock");
}

/* createFilesAsync(dirfd, prefix, count, mode[, cancel: Int32Array]) -> Promise<(fd | -errno)[]> */
static LFS_FN(js_create_files_async) {
  LFS_ARGS(5);
  int32_t dirfd, count, mode;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd) || lfs_arg_i32(env, argv[2], "count", &count) ||
      lfs_arg_i32(env, argv[3], "mode", &mode)) return NULL;
  if (count < 1 || count > 4096) {
    napi_throw_range_error(env, "EINVAL", "layerfs native: count must be 1..4096");
    return NULL;
  }
  LFS_STR(prefix, 1, "prefix");
  if (prefix.has_nul || prefix.len == 0) {
    lfs_str_free(&prefix);
    napi_throw_type_error(env, "EINVAL", "layerfs native: prefix must be a non-empty name");
    return NULL;
  }
  job *j = new_job(env, JOB_CREATE_FILES);
  if (!j) { lfs_str_free(&prefix); return NULL; }
  j->prefix = strdup(prefix.s);
  j->fds = calloc((size_t)count, sizeof *j->fds);
  lfs_str_free(&prefix);
  if (j->prefix == NULL || j->fds == NULL) {
    job_free(j);
    napi_throw_error(env, "ENOMEM", "layerfs native: out of memory");
    return NULL;
  }
  j->fd = dirfd; j->count = count; j->mode = mode;
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  if (t != napi_undefined) {
    void *data; size_t len;
    napi_typedarray_type tt = napi_int8_array;
    napi_value ab; size_t off;
    int ok = 0;
    bool is_ta = false;
    napi_is_typedarray(env, argv[4], &is_ta);
    if (is_ta) {
      napi_get_typedarray_info(env, argv[4], &tt, &len, &data, &ab, &off);
      ok = tt == napi_int32_array && len >= 1;
    }
    if (!ok) {
      job_free(j);
      napi_throw_type_error(env, "EINVAL", "layerfs native: cancel must be an Int32Array");
      return NULL;
    }
    j->cancel = (int32_t *)data;
    napi_create_reference(env, argv[4], 1, &j->cancel_ref); /* keeps its memory alive for the thread */
  }
  return queue_job(env, j, "layerfs:createFiles");
}

void lfs_init_data(napi_env env, napi_value exports) {
  lfs_export_fn(env, exports, "createFilesAsync", js_create_files_async);
  lfs_export_fn(env, exports, "copyFileRange", js_copy_file_range);
  lfs_export_fn(env, exports, "copyFileRangeAsync", js_copy_file_range_async);
  lfs_export_fn(env, exports, "ficlone", js_ficlone);
  lfs_export_fn(env, exports, "ficloneAsync", js_ficlone_async);
  lfs_export_fn(env, exports, "ficloneRange", js_ficlone_range);
  lfs_export_fn(env, exports, "lseek", js_lseek);
  lfs_export_fn(env, exports, "fallocate", js_fallocate);
  lfs_export_fn(env, exports, "fallocateAsync", js_fallocate_async);
  lfs_export_fn(env, exports, "fsync", js_fsync);
  lfs_export_fn(env, exports, "fdatasync", js_fdatasync);
  lfs_export_fn(env, exports, "syncfs", js_syncfs);
  lfs_export_fn(env, exports, "fsyncAsync", js_fsync_async);
  lfs_export_fn(env, exports, "fdatasyncAsync", js_fdatasync_async);
  lfs_export_fn(env, exports, "syncfsAsync", js_syncfs_async);
  lfs_export_fn(env, exports, "ftruncate", js_ftruncate);
  lfs_export_fn(env, exports, "flock", js_flock);
  lfs_export_fn(env, exports, "flockAsync", js_flock_async);
  lfs_export_fn(env, exports, "fstatfs", js_fstatfs);
}
